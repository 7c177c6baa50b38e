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
// Layouts (element strides; the channel dimension of q, k, v, dq, dk, dv is contiguous):
//   q, k, v    (W, H, N, D) with strides st[0..8] = {qw, qh, qn, kw, kh, kn, vw, vh, vn}
//   mask_t     (W|1, H, N, Np): the additive mask TRANSPOSED, mask_t[w][h][j][i] = mask[w][h][i][j],
//              its query dimension zero-padded to Np (a multiple of the lane block); st[9] = its
//              window stride (0: one mask shared by all windows), null for no mask
//   out, d_out (W, N, H, D) contiguous (= (W, N, C), what the output projection reads)
//   lse        (W, H, N): log-sum-exp of each query's scores, saved for the backward
//   d_mask_t   (H, N, Np) accumulated (+=) over the windows of this call (shared mask only)
// Windows [w0, w1) are processed; callers split windows across threads.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
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

SWINSR_INLINE Vec<float> exp_lanes(Vec<float> x) {
    // Cephes-style expf: 2^n * p(r), |r| <= ln2/2, relative error ~2e-7; below -87 the result is
    // 0 (what the softmax wants for masked scores), above 88 it saturates.
    typedef ivec_f32 ivec;
    const Vec<float> lo = splat(-87.0f), hi = splat(88.0f);
    Vec<float> xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    const Vec<float> t = xc * 1.44269504088896341f + 0.5f;
    Vec<float> fx = __builtin_convertvector(__builtin_convertvector(t, ivec), Vec<float>);
    fx = fx > t ? fx - 1.0f : fx;  // truncation -> floor
    const Vec<float> r = xc - fx * 0.693359375f + fx * 2.12194440e-4f;
    Vec<float> y = splat(1.9875691500e-4f);
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    const ivec bits = (__builtin_convertvector(fx, ivec) + 127) << 23;
    Vec<float> scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return x < lo ? splat(0.0f) : y * scale;
}

SWINSR_INLINE Vec<double> exp_lanes(Vec<double> x) {  // float64: the tests' reference-exact path
    for (int u = 0; u < Lanes<double>::value; ++u) x[u] = std::exp(x[u]);
    return x;
}

// scores_t[j][i] = mask_t[j][i] + sum_t k[j][t] * q_t[t][i] for all keys j and the RB query
// blocks from ib (q_t, mask_t, scores_t rows are Np long)
template <typename T, int RB>
SWINSR_INLINE void scores_block(const T* k, idx kn, const T* q_t, const T* mask_t, idx N, idx D, idx Np, idx ib, T* scores_t) {
    constexpr int L = Lanes<T>::value;
    for (idx j = 0; j < N; ++j) {
        Vec<T> acc[RB];
        for (int r = 0; r < RB; ++r) acc[r] = mask_t ? load(mask_t + j * Np + ib + r * L) : Vec<T>{};
        const T* kj = k + j * kn;
        for (idx t = 0; t < D; ++t) {
            const T kv = kj[t];
            for (int r = 0; r < RB; ++r) acc[r] += kv * load(q_t + t * Np + ib + r * L);
        }
        for (int r = 0; r < RB; ++r) store(scores_t + j * Np + ib + r * L, acc[r]);
    }
}

template <typename T>
SWINSR_INLINE void scores_transposed(const T* k, idx kn, const T* q_t, const T* mask_t, idx N, idx D, idx Np, T* scores_t) {
    constexpr int L = Lanes<T>::value;
    idx ib = 0;
    for (; ib + R * L <= Np; ib += R * L) scores_block<T, R>(k, kn, q_t, mask_t, N, D, Np, ib, scores_t);
    for (; ib < Np; ib += L) scores_block<T, 1>(k, kn, q_t, mask_t, N, D, Np, ib, scores_t);
}

// sink(i0, t, sum_j src[j][t] * weights_t[j][i0:i0+L]) for the RB query blocks from ib
template <typename T, int RB, typename Sink>
SWINSR_INLINE void weighted_block(const T* src, idx sn, const T* weights_t, idx N, idx D, idx Np, idx ib, Sink& sink) {
    constexpr int L = Lanes<T>::value;
    for (idx t = 0; t < D; ++t) {
        Vec<T> acc[RB];
        for (int r = 0; r < RB; ++r) acc[r] = Vec<T>{};
        for (idx j = 0; j < N; ++j) {
            const T s = src[j * sn + t];
            for (int r = 0; r < RB; ++r) acc[r] += s * load(weights_t + j * Np + ib + r * L);
        }
        for (int r = 0; r < RB; ++r) sink(ib + r * L, t, acc[r]);
    }
}

// sink(i0, t, sum_j src[j][t] * weights_t[j][i0:i0+L]) for every query block (src: (N, D), row stride sn)
template <typename T, typename Sink>
SWINSR_INLINE void weighted_rows(const T* src, idx sn, const T* weights_t, idx N, idx D, idx Np, Sink sink) {
    constexpr int L = Lanes<T>::value;
    idx ib = 0;
    for (; ib + R * L <= Np; ib += R * L) weighted_block<T, R>(src, sn, weights_t, N, D, Np, ib, sink);
    for (; ib < Np; ib += L) weighted_block<T, 1>(src, sn, weights_t, N, D, Np, ib, sink);
}

// dst[j][t] = sum_i a_t[j][i] * b_t[t][i]  (both padded to Np along i), R columns t at a time
template <typename T>
SWINSR_INLINE void row_dots(const T* a_t, const T* b_t, idx N, idx D, idx Np, T* dst, idx dn) {
    constexpr int L = Lanes<T>::value;
    for (idx j = 0; j < N; ++j) {
        const T* a = a_t + j * Np;
        idx t = 0;
        for (; t + R <= D; t += R) {
            Vec<T> acc[R];
            for (int r = 0; r < R; ++r) acc[r] = Vec<T>{};
            for (idx i = 0; i < Np; i += L) {
                const Vec<T> x = load(a + i);
                for (int r = 0; r < R; ++r) acc[r] += x * load(b_t + (t + r) * Np + i);
            }
            for (int r = 0; r < R; ++r) {
                T s = T(0);
                for (int u = 0; u < L; ++u) s += acc[r][u];
                dst[j * dn + t + r] = s;
            }
        }
        for (; t < D; ++t) {
            Vec<T> acc{};
            for (idx i = 0; i < Np; i += L) acc += load(a + i) * load(b_t + t * Np + i);
            T s = T(0);
            for (int u = 0; u < L; ++u) s += acc[u];
            dst[j * dn + t] = s;
        }
    }
}

template <typename T>
void forward(const T* q, const T* k, const T* v, const idx* st, const T* mask_t, T scale, T* out, T* lse,
             idx H, idx N, idx D, idx Np, idx w0, idx w1) {
    constexpr int L = Lanes<T>::value;
    std::vector<T> work(static_cast<size_t>(D * Np + N * Np + 2 * Np));
    T* q_t = work.data();
    T* p_t = q_t + D * Np;
    T* mx = p_t + N * Np;
    T* sum = mx + Np;
    const idx C = H * D;
    for (idx w = w0; w < w1; ++w) {
        for (idx h = 0; h < H; ++h) {
            const T* qh = q + w * st[0] + h * st[1];
            const T* kh = k + w * st[3] + h * st[4];
            const T* vh = v + w * st[6] + h * st[7];
            const T* mh = mask_t ? mask_t + w * st[9] + h * N * Np : nullptr;
            for (idx t = 0; t < D; ++t)
                for (idx i = 0; i < Np; ++i) q_t[t * Np + i] = i < N ? scale * qh[i * st[2] + t] : T(0);
            scores_transposed(kh, st[5], q_t, mh, N, D, Np, p_t);
            for (idx ib = 0; ib < Np; ib += L) {
                Vec<T> m = splat(-std::numeric_limits<T>::infinity());
                for (idx j = 0; j < N; ++j) {
                    const Vec<T> row = load(p_t + j * Np + ib);
                    m = row > m ? row : m;
                }
                Vec<T> s{};
                for (idx j = 0; j < N; ++j) {
                    const Vec<T> e = exp_lanes(load(p_t + j * Np + ib) - m);
                    store(p_t + j * Np + ib, e);
                    s += e;
                }
                store(mx + ib, m);
                store(sum + ib, s);
            }
            T* ow = out + w * N * C + h * D;
            weighted_rows(vh, st[8], p_t, N, D, Np, [&](idx ib, idx t, Vec<T> acc) {
                const idx n = (ib + L <= N) ? L : N - ib;
                for (idx u = 0; u < n; ++u) ow[(ib + u) * C + t] = acc[u] / sum[ib + u];
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
              const T* d_out, const T* lse, T* dq, T* dk, T* dv, const idx* dst, T* d_mask_t,
              idx H, idx N, idx D, idx Np, idx w0, idx w1) {
    constexpr int L = Lanes<T>::value;
    std::vector<T> work(static_cast<size_t>(2 * D * Np + 2 * N * Np + 2 * Np));
    T* q_t = work.data();
    T* do_t = q_t + D * Np;
    T* p_t = do_t + D * Np;
    T* ds_t = p_t + N * Np;
    T* delta = ds_t + N * Np;
    T* lse_p = delta + Np;
    const idx C = H * D;
    for (idx w = w0; w < w1; ++w) {
        for (idx h = 0; h < H; ++h) {
            const T* qh = q + w * st[0] + h * st[1];
            const T* kh = k + w * st[3] + h * st[4];
            const T* vh = v + w * st[6] + h * st[7];
            const T* mh = mask_t ? mask_t + w * st[9] + h * N * Np : nullptr;
            const T* ow = out + w * N * C + h * D;
            const T* gw = d_out + w * N * C + h * D;
            const T* lw = lse + (w * H + h) * N;
            for (idx t = 0; t < D; ++t) {
                for (idx i = 0; i < Np; ++i) {
                    q_t[t * Np + i] = i < N ? scale * qh[i * st[2] + t] : T(0);
                    do_t[t * Np + i] = i < N ? gw[i * C + t] : T(0);
                }
            }
            for (idx i = 0; i < Np; ++i) {
                T s = T(0);
                if (i < N)
                    for (idx t = 0; t < D; ++t) s += gw[i * C + t] * ow[i * C + t];
                delta[i] = s;
                // padded queries get probability exp(-huge) = 0, so they add nothing below
                lse_p[i] = i < N ? lw[i] : std::numeric_limits<T>::max();
            }
            scores_transposed(kh, st[5], q_t, mh, N, D, Np, p_t);
            for (idx ib = 0; ib < Np; ib += L) {
                const Vec<T> lse_b = load(lse_p + ib), delta_b = load(delta + ib);
                for (idx j = 0; j < N; ++j) {
                    Vec<T> dp{};
                    const T* vj = vh + j * st[8];
                    for (idx t = 0; t < D; ++t) dp += vj[t] * load(do_t + t * Np + ib);
                    const Vec<T> p = exp_lanes(load(p_t + j * Np + ib) - lse_b);
                    const Vec<T> ds = p * (dp - delta_b);
                    store(p_t + j * Np + ib, p);
                    store(ds_t + j * Np + ib, ds);
                    if (d_mask_t) {
                        T* mrow = d_mask_t + h * N * Np + j * Np + ib;
                        store(mrow, load(mrow) + ds);
                    }
                }
            }
            T* dqh = dq + w * dst[0] + h * dst[1];
            weighted_rows(kh, st[5], ds_t, N, D, Np, [&](idx ib, idx t, Vec<T> acc) {
                const idx n = (ib + L <= N) ? L : N - ib;
                for (idx u = 0; u < n; ++u) dqh[(ib + u) * dst[2] + t] = scale * acc[u];
            });
            row_dots(ds_t, q_t, N, D, Np, dk + w * dst[3] + h * dst[4], dst[5]);
            row_dots(p_t, do_t, N, D, Np, dv + w * dst[6] + h * dst[7], dst[8]);
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
              const T* d_out, const T* lse, T* dq, T* dk, T* dv, const idx* dst, T* d_mask_t, idx H, idx N,      \
              idx D, idx Np, idx w0, idx w1, int threads) {                                                      \
        split_windows(w0, w1, threads, [&](idx a, idx b, int tid) {                                              \
            backward<T>(q, k, v, st, mask_t, static_cast<T>(scale), out, d_out, lse, dq, dk, dv, dst,             \
                        d_mask_t ? d_mask_t + tid * H * N * Np : nullptr, H, N, D, Np, a, b);                    \
        });                                                                                                      \
    }

SWINSR_FORWARD(float, swinsr_wattn_forward_f32)
SWINSR_FORWARD(double, swinsr_wattn_forward_f64)
SWINSR_BACKWARD(float, swinsr_wattn_backward_f32)
SWINSR_BACKWARD(double, swinsr_wattn_backward_f64)

}  // extern "C"
