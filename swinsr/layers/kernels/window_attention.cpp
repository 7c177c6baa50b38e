// Window self-attention for the CPU, forward and backward, for the small windows of Swin models
// (64 tokens for window 8, heads of 10-32 channels).
//
// Why a kernel of our own: at these shapes the fused CPU kernel of
// torch.nn.functional.scaled_dot_product_attention reaches a few GFLOP/s (its 32-query blocks each
// run two tiny GEMMs), and the explicit matmul + softmax path is slower still. Here one (window,
// head) pair is done start to finish in L1: the scores are kept transposed (key-major, queries
// across the SIMD lanes), so the bias add, the softmax (max, exp, sum over keys) and both
// products are plain vector loops over queries that the compiler vectorizes for whatever ISA it
// is built for (the loader compiles this file on the user's machine).
//
// Layouts. Windows form a (B, Wg) grid (batch x windows of one mask group); window w of a call is
// (w / Wg, w % Wg). Element strides come in one array `st`:
//   st[0]       Wg
//   st[1..4]    q: batch, window, head, token strides; st[5..8] k; st[9..12] v (channels contiguous)
//   st[13]      mask_t's stride per (flattened) window, 0 when all windows share one mask
//   st[14..15]  out (and d_out): batch, window strides; tokens are H*D apart, head h at h*D
//   st[16..27]  dq, dk, dv: batch, window, head, token strides (backward only)
//   mask_t      (W|1, H, N, Np): the additive mask TRANSPOSED, mask_t[w][h][j][i] = mask[w][h][i][j],
//               queries zero-padded to Np (a multiple of the lane count); null for no mask
//   lse         (B * Wg, H, N) contiguous: log-sum-exp of each query's scores, kept for the backward
//   d_mask_t    (threads, H, N, Np): per-thread sums over windows of the mask gradient (shared mask)
// Windows [w0, w1) of the grid are processed; callers split windows across threads.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

typedef int64_t idx;

namespace {

// One block of queries across the SIMD lanes, in GCC/Clang vector extensions sized to the widest
// registers the build targets (AVX-512: 64 bytes, AVX/AVX2: 32, otherwise 16, e.g. SSE or NEON).
#if defined(__AVX512F__)
#define SWINSR_VEC_BYTES 64
#elif defined(__AVX__)
#define SWINSR_VEC_BYTES 32
#else
#define SWINSR_VEC_BYTES 16
#endif
#define SWINSR_INLINE inline __attribute__((always_inline))

template <typename T> struct Lanes {
    typedef T vec __attribute__((vector_size(SWINSR_VEC_BYTES)));
    static constexpr int value = SWINSR_VEC_BYTES / sizeof(T);
};
typedef int32_t ivec_f32 __attribute__((vector_size(SWINSR_VEC_BYTES)));

template <typename T> using Vec = typename Lanes<T>::vec;

// Register blocking: R query blocks share each broadcast key / value element.
constexpr int R = 4;

template <typename T> SWINSR_INLINE Vec<T> load(const T* p) {
    Vec<T> x;
    std::memcpy(&x, p, sizeof x);
    return x;
}
template <typename T> SWINSR_INLINE void store(T* p, Vec<T> x) { std::memcpy(p, &x, sizeof x); }
template <typename T> SWINSR_INLINE Vec<T> splat(T x) { return Vec<T>{} + x; }

// exp(x - m) for scores x and m their row's maximum or log-sum-exp (so x - m <= 0), m passed as
// m * log2(e) (exp_minus_prep, once per row block). exp(y) = 2^n * 2^f with
// t = y log2(e) = n + f, n = round(t), |f| <= 1/2 (t from one FMA), and 2^f by its Taylor polynomial of
// degree 6 (relative error < 1.3e-7, as good as float rounding allows here). The rounding adds and
// removes 1.5 * 2^23, whose low mantissa bits then hold n; shifted left by 23 they are exactly n << 23
// (the magic number's own bits shift out), added straight into the exponent of 2^f. t is clamped at
// -125.5, where the result (about 1e-38) stands in for the 0 of masked or far-below-maximum scores:
// added to a sum that is at least 1 (the maximum's own term), it changes nothing.
SWINSR_INLINE Vec<float> exp_minus(Vec<float> x, Vec<float> m_log2e) {
    typedef ivec_f32 ivec;
    const Vec<float> magic = splat(12582912.0f);
    Vec<float> t = x * 1.44269504088896341f - m_log2e;
    const Vec<float> lo = splat(-125.5f);
    t = t < lo ? lo : t;
    const Vec<float> shifted = t + magic;
    const Vec<float> f = t - (shifted - magic);
    Vec<float> p = splat(1.5403530393381609e-4f);
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    ivec n, bits;
    std::memcpy(&n, &shifted, sizeof n);
    std::memcpy(&bits, &p, sizeof bits);
    bits += n << 23;
    Vec<float> result;
    std::memcpy(&result, &bits, sizeof result);
    return result;
}
SWINSR_INLINE Vec<float> exp_minus_prep(Vec<float> m) { return m * 1.44269504088896341f; }

SWINSR_INLINE Vec<double> exp_minus(Vec<double> x, Vec<double> m) {  // float64: the tests' reference-exact path
    x -= m;
    for (int u = 0; u < Lanes<double>::value; ++u) x[u] = std::exp(x[u]);
    return x;
}
SWINSR_INLINE Vec<double> exp_minus_prep(Vec<double> m) { return m; }

// dst[t][i] = scale * src[i][t], queries i >= N zero (src rows of D values, row stride sn): rows
// are read contiguously, the scattered writes stay within the L1-resident destination
template <typename T>
SWINSR_INLINE void transpose_rows(const T* src, idx sn, T scale, idx N, idx D, idx Np, T* dst) {
    for (idx i = 0; i < N; ++i)
        for (idx t = 0; t < D; ++t) dst[t * Np + i] = scale * src[i * sn + t];
    for (idx t = 0; t < D; ++t)
        for (idx i = N; i < Np; ++i) dst[t * Np + i] = T(0);
}

// Prefetch rows [r0, r1) of a (rows, width) matrix with row stride sn: the next window's q, k, v
// are requested while this window's heads compute (their rows are strided, which the hardware
// prefetcher does not follow far enough ahead). Tuned on a Zen 4; on a Zen 3 they made no
// measurable difference, and touch_window below is what helped there.
template <typename T>
SWINSR_INLINE void prefetch_rows(const T* base, idx sn, idx r0, idx r1, idx width) {
    const idx line = 64 / sizeof(T);
    for (idx r = r0; r < r1; ++r)
        for (idx c = 0; c < width; c += line) __builtin_prefetch(base + r * sn + c, 0, 2);
}

// Read one value per cache line of a window's operand (H heads of N rows of D values; head and
// token strides sh, sn), in address order for the usual token-major layout. Its rows are not
// contiguous per head, and on an AMD Zen 3 (AVX2) the software prefetches above did not help, while
// these plain loads, done once per window before its first head, let the hardware prefetcher stream
// the window in: 6 heads of 30, 256 windows, one thread, 39 -> 25 us per (window, head); SwinIR-M's
// attention 0.56 -> 0.36-0.39 s at 64x64 (one thread). Not measured on an AVX-512 machine yet.
// The sum only keeps the loads from being optimised away.
template <typename T>
SWINSR_INLINE void touch_window(const T* base, idx sh, idx sn, idx H, idx N, idx D) {
    const idx line = 64 / sizeof(T);
    T sum = T(0);
    for (idx r = 0; r < N; ++r)
        for (idx h = 0; h < H; ++h) {
            const T* row = base + r * sn + h * sh;
            for (idx c = 0; c < D; c += line) sum += row[c];
            sum += row[D - 1];  // the last line, when the row does not start on a line boundary
        }
    volatile T sink = sum;
    (void)sink;
}

// Each inner loop updates 2 x RB independent accumulators: an FMA has a latency of about four
// cycles and two issue per cycle, so fewer chains would leave the units idle.

// Keep a vector in a register: without this GCC folds the loads of the shared operand into every
// FMA's memory operand (one load per FMA instead of one per RB FMAs), and the tile becomes
// load-bound: 10-15% of the whole kernel at head dims 10 and 30 (AVX2 and AVX-512 alike).
template <typename V> SWINSR_INLINE void pin(V& x) {
#if defined(__x86_64__) || defined(__i386__)
    asm("" : "+x"(x));
#elif defined(__aarch64__)
    asm("" : "+w"(x));
#endif
}

// scores_t[j][i] = mask_t[j][i] + sum_t k[j][t] * q_t[t][i] for keys j (JB of them from j0) and
// the RB query blocks from ib (q_t, mask_t, scores_t rows are Np long)
template <typename T, int RB, int JB>
SWINSR_INLINE void scores_tile(const T* k, idx kn, const T* q_t, const T* mask_t, idx D, idx Np, idx ib, idx j0, T* scores_t) {
    constexpr int L = Lanes<T>::value;
    Vec<T> acc[JB][RB];
    for (int jj = 0; jj < JB; ++jj)
        for (int r = 0; r < RB; ++r) acc[jj][r] = mask_t ? load(mask_t + (j0 + jj) * Np + ib + r * L) : Vec<T>{};
    const T* kj = k + j0 * kn;
    for (idx t = 0; t < D; ++t) {
        Vec<T> qv[RB];
        for (int r = 0; r < RB; ++r) {
            qv[r] = load(q_t + t * Np + ib + r * L);
            pin(qv[r]);
        }
        for (int jj = 0; jj < JB; ++jj) {
            const T kv = kj[jj * kn + t];
            for (int r = 0; r < RB; ++r) acc[jj][r] += kv * qv[r];
        }
    }
    for (int jj = 0; jj < JB; ++jj)
        for (int r = 0; r < RB; ++r) store(scores_t + (j0 + jj) * Np + ib + r * L, acc[jj][r]);
}

template <typename T, int RB>
SWINSR_INLINE void scores_block(const T* k, idx kn, const T* q_t, const T* mask_t, idx N, idx D, idx Np, idx ib, T* scores_t) {
    idx j = 0;
    for (; j + 2 <= N; j += 2) scores_tile<T, RB, 2>(k, kn, q_t, mask_t, D, Np, ib, j, scores_t);
    for (; j < N; ++j) scores_tile<T, RB, 1>(k, kn, q_t, mask_t, D, Np, ib, j, scores_t);
}

template <typename T>
SWINSR_INLINE void scores_transposed(const T* k, idx kn, const T* q_t, const T* mask_t, idx N, idx D, idx Np, T* scores_t) {
    constexpr int L = Lanes<T>::value;
    idx ib = 0;
    for (; ib + R * L <= Np; ib += R * L) scores_block<T, R>(k, kn, q_t, mask_t, N, D, Np, ib, scores_t);
    for (; ib < Np; ib += L) scores_block<T, 1>(k, kn, q_t, mask_t, N, D, Np, ib, scores_t);
}

// sink(i0, t, sum_j src[j][t] * weights_t[j][i0:i0+L]) for TB columns t from t0 and the RB query
// blocks from ib
template <typename T, int RB, int TB, typename Sink>
SWINSR_INLINE void weighted_tile(const T* src, idx sn, const T* weights_t, idx N, idx Np, idx ib, idx t0, Sink& sink) {
    constexpr int L = Lanes<T>::value;
    Vec<T> acc[TB][RB];
    for (int tt = 0; tt < TB; ++tt)
        for (int r = 0; r < RB; ++r) acc[tt][r] = Vec<T>{};
    for (idx j = 0; j < N; ++j) {
        Vec<T> wv[RB];
        for (int r = 0; r < RB; ++r) {
            wv[r] = load(weights_t + j * Np + ib + r * L);
            pin(wv[r]);
        }
        for (int tt = 0; tt < TB; ++tt) {
            const T s = src[j * sn + t0 + tt];
            for (int r = 0; r < RB; ++r) acc[tt][r] += s * wv[r];
        }
    }
    for (int tt = 0; tt < TB; ++tt)
        for (int r = 0; r < RB; ++r) sink(ib + r * L, t0 + tt, acc[tt][r]);
}

template <typename T, int RB, typename Sink>
SWINSR_INLINE void weighted_block(const T* src, idx sn, const T* weights_t, idx N, idx D, idx Np, idx ib, Sink& sink) {
    idx t = 0;
    for (; t + 2 <= D; t += 2) weighted_tile<T, RB, 2>(src, sn, weights_t, N, Np, ib, t, sink);
    for (; t < D; ++t) weighted_tile<T, RB, 1>(src, sn, weights_t, N, Np, ib, t, sink);
}

// sink(i0, t, sum_j src[j][t] * weights_t[j][i0:i0+L]) for every query block (src: (N, D), row stride sn)
template <typename T, typename Sink>
SWINSR_INLINE void weighted_rows(const T* src, idx sn, const T* weights_t, idx N, idx D, idx Np, Sink sink) {
    constexpr int L = Lanes<T>::value;
    idx ib = 0;
    for (; ib + R * L <= Np; ib += R * L) weighted_block<T, R>(src, sn, weights_t, N, D, Np, ib, sink);
    for (; ib < Np; ib += L) weighted_block<T, 1>(src, sn, weights_t, N, D, Np, ib, sink);
}

#if defined(__AVX__)
// dst[c][r] = src[r][c] for an 8 x 8 float block (rows `ld` apart in both): unpack pairs, shuffle
// quads, swap 128-bit halves
SWINSR_INLINE void transpose8x8(const float* src, idx ld, float* dst) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + i * ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}
#endif

// dst[i][j] = src[j][i] for the N x N block of an (N, Np) key-major matrix, the columns j >= N of
// dst zeroed: the query-major copy whose rows the key-vectorised products read
template <typename T>
SWINSR_INLINE void transpose_square(const T* src, idx N, idx Np, T* dst) {
    idx done = 0;
#if defined(__AVX__)
    if constexpr (sizeof(T) == 4) {
        if (N % 8 == 0) {  // 8 x 8 blocks in registers: a quarter of the instructions of the scalar copy
            for (idx jb = 0; jb < N; jb += 8)
                for (idx ib = 0; ib < N; ib += 8)
                    transpose8x8(reinterpret_cast<const float*>(src) + jb * Np + ib, Np, reinterpret_cast<float*>(dst) + ib * Np + jb);
            done = N;
        }
    }
#endif
    for (idx j = done; j < N; ++j)
        for (idx i = 0; i < N; ++i) dst[i * Np + j] = src[j * Np + i];
    for (idx i = 0; i < N; ++i)
        for (idx j = N; j < Np; ++j) dst[i * Np + j] = T(0);
}

// Where window w of the grid starts in an operand with batch / window strides s[0], s[1].
SWINSR_INLINE idx window_offset(const idx* s, idx w, idx wg) { return (w / wg) * s[0] + (w % wg) * s[1]; }

template <typename T>
void forward(const T* q, const T* k, const T* v, const idx* st, const T* mask_t, T scale, T* out, T* lse,
             idx H, idx N, idx D, idx Np, idx w0, idx w1) {
    constexpr int L = Lanes<T>::value;
    std::vector<T> work(static_cast<size_t>(D * Np + N * Np + 3 * Np));
    T* q_t = work.data();
    T* p_t = q_t + D * Np;
    T* mx = p_t + N * Np;
    T* sum = mx + Np;
    T* inv = sum + Np;
    const idx C = H * D;
    const idx wg = st[0];
    for (idx w = w0; w < w1; ++w) {
        const T* qw = q + window_offset(st + 1, w, wg);
        const T* kw = k + window_offset(st + 5, w, wg);
        const T* vw = v + window_offset(st + 9, w, wg);
        touch_window(qw, st[3], st[4], H, N, D);
        touch_window(kw, st[7], st[8], H, N, D);
        touch_window(vw, st[11], st[12], H, N, D);
        for (idx h = 0; h < H; ++h) {
            const T* qh = qw + h * st[3];
            const T* kh = kw + h * st[7];
            const T* vh = vw + h * st[11];
            const T* mh = mask_t ? mask_t + w * st[13] + h * N * Np : nullptr;
            if (w + 1 < w1) {
                const idx r0 = N * h / H, r1 = N * (h + 1) / H;
                prefetch_rows(q + window_offset(st + 1, w + 1, wg), st[4], r0, r1, H * D);
                prefetch_rows(k + window_offset(st + 5, w + 1, wg), st[8], r0, r1, H * D);
                prefetch_rows(v + window_offset(st + 9, w + 1, wg), st[12], r0, r1, H * D);
            }
            transpose_rows(qh, st[4], scale, N, D, Np, q_t);
            scores_transposed(kh, st[8], q_t, mh, N, D, Np, p_t);
            for (idx ib = 0; ib < Np; ib += L) {
                // four running maxima: one chain of dependent max operations would be latency-bound
                Vec<T> m4[4];
                for (auto& x : m4) x = splat(-std::numeric_limits<T>::infinity());
                idx j = 0;
                for (; j + 4 <= N; j += 4)
                    for (int u = 0; u < 4; ++u) {
                        const Vec<T> row = load(p_t + (j + u) * Np + ib);
                        m4[u] = row > m4[u] ? row : m4[u];
                    }
                for (; j < N; ++j) {
                    const Vec<T> row = load(p_t + j * Np + ib);
                    m4[0] = row > m4[0] ? row : m4[0];
                }
                const Vec<T> m01 = m4[0] > m4[1] ? m4[0] : m4[1], m23 = m4[2] > m4[3] ? m4[2] : m4[3];
                const Vec<T> m = m01 > m23 ? m01 : m23;
                Vec<T> s{};
                const Vec<T> mp = exp_minus_prep(m);
                for (idx j = 0; j < N; ++j) {
                    const Vec<T> e = exp_minus(load(p_t + j * Np + ib), mp);
                    store(p_t + j * Np + ib, e);
                    s += e;
                }
                store(mx + ib, m);
                store(sum + ib, s);
                store(inv + ib, T(1) / s);
            }
            T* ow = out + window_offset(st + 14, w, wg) + h * D;
            weighted_rows(vh, st[12], p_t, N, D, Np, [&](idx ib, idx t, Vec<T> acc) {
                const idx n = (ib + L <= N) ? L : N - ib;
                const Vec<T> o = acc * load(inv + ib);
                for (idx u = 0; u < n; ++u) ow[(ib + u) * C + t] = o[u];
            });
            if (lse) {
                T* lw = lse + (w * H + h) * N;
                for (idx i = 0; i < N; ++i) lw[i] = mx[i] + std::log(sum[i]);
            }
        }
    }
}

template <typename T>
void backward(const T* q, const T* k, const T* v, const idx* st, const T* mask_t, T scale, const T* out,
              const T* d_out, const T* lse, T* dq, T* dk, T* dv, T* d_mask_t,
              idx H, idx N, idx D, idx Np, idx w0, idx w1) {
    constexpr int L = Lanes<T>::value;
    std::vector<T> work(static_cast<size_t>(2 * D * Np + 4 * N * Np + 2 * Np));
    T* q_t = work.data();
    T* do_t = q_t + D * Np;
    T* p_t = do_t + D * Np;
    T* ds_t = p_t + N * Np;
    T* p_q = ds_t + N * Np;
    T* ds_q = p_q + N * Np;
    T* delta = ds_q + N * Np;
    T* lse_p = delta + Np;
    const idx C = H * D;
    const idx wg = st[0];
    for (idx w = w0; w < w1; ++w) {
        touch_window(q + window_offset(st + 1, w, wg), st[3], st[4], H, N, D);
        touch_window(k + window_offset(st + 5, w, wg), st[7], st[8], H, N, D);
        touch_window(v + window_offset(st + 9, w, wg), st[11], st[12], H, N, D);
        touch_window(out + window_offset(st + 14, w, wg), D, C, H, N, D);
        touch_window(d_out + window_offset(st + 14, w, wg), D, C, H, N, D);
        for (idx h = 0; h < H; ++h) {
            const T* qh = q + window_offset(st + 1, w, wg) + h * st[3];
            const T* kh = k + window_offset(st + 5, w, wg) + h * st[7];
            const T* vh = v + window_offset(st + 9, w, wg) + h * st[11];
            const T* mh = mask_t ? mask_t + w * st[13] + h * N * Np : nullptr;
            const T* ow = out + window_offset(st + 14, w, wg) + h * D;
            const T* gw = d_out + window_offset(st + 14, w, wg) + h * D;
            const T* lw = lse + (w * H + h) * N;
            T* dqh = dq + window_offset(st + 16, w, wg) + h * st[18];
            T* dkh = dk + window_offset(st + 20, w, wg) + h * st[22];
            T* dvh = dv + window_offset(st + 24, w, wg) + h * st[26];
            transpose_rows(qh, st[4], scale, N, D, Np, q_t);
            transpose_rows(gw, C, T(1), N, D, Np, do_t);
            for (idx i = 0; i < Np; ++i) {
                T s = T(0);
                if (i < N)
                    for (idx t = 0; t < D; ++t) s += gw[i * C + t] * ow[i * C + t];
                delta[i] = s;
                // padded queries get probability exp(-huge) = 0, so they add nothing below
                lse_p[i] = i < N ? lw[i] : std::numeric_limits<T>::max();
            }
            scores_transposed(kh, st[8], q_t, mh, N, D, Np, p_t);
            // dP^T[j][i] = sum_t v[j][t] dO[i][t]: the same register-blocked product as the scores
            scores_transposed(vh, st[12], do_t, static_cast<const T*>(nullptr), N, D, Np, ds_t);
            for (idx ib = 0; ib < Np; ib += L) {
                const Vec<T> lse_b = exp_minus_prep(load(lse_p + ib)), delta_b = load(delta + ib);
                for (idx j = 0; j < N; ++j) {
                    const Vec<T> dp = load(ds_t + j * Np + ib);
                    const Vec<T> p = exp_minus(load(p_t + j * Np + ib), lse_b);
                    const Vec<T> ds = p * (dp - delta_b);
                    store(p_t + j * Np + ib, p);
                    store(ds_t + j * Np + ib, ds);
                    if (d_mask_t) {
                        T* mrow = d_mask_t + h * N * Np + j * Np + ib;
                        store(mrow, load(mrow) + ds);
                    }
                }
            }
            weighted_rows(kh, st[8], ds_t, N, D, Np, [&](idx ib, idx t, Vec<T> acc) {
                const idx n = (ib + L <= N) ? L : N - ib;
                for (idx u = 0; u < n; ++u) dqh[(ib + u) * st[19] + t] = scale * acc[u];
            });
            // dK = dS^T (scale q) and dV = P^T dO, vectorised over keys: on key-major copies
            transpose_square(ds_t, N, Np, ds_q);
            transpose_square(p_t, N, Np, p_q);
            weighted_rows(qh, st[4], ds_q, N, D, Np, [&](idx jb, idx t, Vec<T> acc) {
                const idx n = (jb + L <= N) ? L : N - jb;
                for (idx u = 0; u < n; ++u) dkh[(jb + u) * st[23] + t] = scale * acc[u];
            });
            weighted_rows(gw, C, p_q, N, D, Np, [&](idx jb, idx t, Vec<T> acc) {
                const idx n = (jb + L <= N) ? L : N - jb;
                for (idx u = 0; u < n; ++u) dvh[(jb + u) * st[27] + t] = acc[u];
            });
        }
    }
}

// Windows [w0, w1) split evenly over `threads` OpenMP threads. The loader links this file against
// the OpenMP runtime PyTorch itself loaded, so these are the threads of torch's own pool (a second
// runtime would keep its workers spinning on the same cores). Built without OpenMP, one thread
// runs everything and the caller splits windows over its own threads.
template <typename Body>
void split_windows(idx w0, idx w1, int threads, Body body) {
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            const idx n = omp_get_num_threads(), tid = omp_get_thread_num();
            const idx a = w0 + (w1 - w0) * tid / n, b = w0 + (w1 - w0) * (tid + 1) / n;
            if (a < b) body(a, b, static_cast<int>(tid));
        }
        return;
    }
#endif
    (void)threads;
    body(w0, w1, 0);
}

}  // namespace

extern "C" {

// Np (the padded query count) must be a multiple of this (the float lane count; double has half)
int swinsr_wattn_lanes() { return Lanes<float>::value; }

int swinsr_wattn_openmp() {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

#define SWINSR_FORWARD(T, NAME)                                                                                  \
    void NAME(const T* q, const T* k, const T* v, const idx* st, const T* mask_t, double scale, T* out, T* lse,  \
              idx H, idx N, idx D, idx Np, idx w0, idx w1, int threads) {                                       \
        split_windows(w0, w1, threads, [&](idx a, idx b, int) {                                                  \
            forward<T>(q, k, v, st, mask_t, static_cast<T>(scale), out, lse, H, N, D, Np, a, b);                 \
        });                                                                                                      \
    }

// d_mask_t: `threads` accumulators of (H, N, Np), one per thread (the caller sums them)
#define SWINSR_BACKWARD(T, NAME)                                                                                 \
    void NAME(const T* q, const T* k, const T* v, const idx* st, const T* mask_t, double scale, const T* out,    \
              const T* d_out, const T* lse, T* dq, T* dk, T* dv, T* d_mask_t, idx H, idx N, idx D, idx Np,       \
              idx w0, idx w1, int threads) {                                                                     \
        split_windows(w0, w1, threads, [&](idx a, idx b, int tid) {                                              \
            backward<T>(q, k, v, st, mask_t, static_cast<T>(scale), out, d_out, lse, dq, dk, dv,                  \
                        d_mask_t ? d_mask_t + tid * H * N * Np : nullptr, H, N, D, Np, a, b);                    \
        });                                                                                                      \
    }

SWINSR_FORWARD(float, swinsr_wattn_forward_f32)
SWINSR_FORWARD(double, swinsr_wattn_forward_f64)
SWINSR_BACKWARD(float, swinsr_wattn_backward_f32)
SWINSR_BACKWARD(double, swinsr_wattn_backward_f64)

}  // extern "C"
