// Token gathers fused with LayerNorm and the residual add, for the inference fast path of a Swin block.
//
// Why: around the attention of a pre-norm block, PyTorch makes four passes over the (tokens x C)
// feature map that only move data: LayerNorm, the window-order gather (index_select), the gather
// back to image order, and the residual add, plus the second LayerNorm. At SwinIR-M's 180 channels
// and 16,384 tokens those took 6.2 ms per block on two AVX2 cores (7% of the forward), and at
// SwinIR-S's 60 channels PyTorch's LayerNorm alone costs 8x an add of the same size. Here each
// token row is read once and every output row written once:
//   gather_ln:      out[b, i] = LN(x[b, rows[i]])                           (norm1 + window gather)
//   add_gather_ln:  sum[b, t] = x[b, t] + y[b, rows[t]];  norm[b, t] = LN(sum[b, t])
//                   (gather back + residual + norm2; `norm` may be null: gather + add only)
//   gather_ln_add:  sum[b, t] = x[b, t] + LN(y[b, rows[t]])                 (post-norm blocks, Swin V2)
// LN is PyTorch's: mean and biased variance over the C channels, (v - mean) / sqrt(var + eps) *
// weight + bias, accumulated in float with independent partial sums (the compiler vectorizes them).
// Rows are contiguous C floats; a batch element holds `t_src` source rows and `t_dst` output rows.
// rows == null means the identity (no gather).

#include <cmath>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

typedef int64_t idx;
constexpr int P = 16;  // partial sums: two AVX-512 or four AVX2 registers of independent chains

// Sum of the P partial sums as a tree: a chain of P dependent adds would cost more than the row.
inline float reduce(float* s) {
    for (int half = P / 2; half > 0; half /= 2)
        for (int l = 0; l < half; ++l) s[l] += s[l + half];
    return s[0];
}

// Mean and 1 / sqrt(biased variance + eps) of one row, in two passes. The float mean m is off by up
// to an ulp of the row's level; the second pass sums d = r - m (exact for r near m) as well as d^2,
// so its residual mean `shift` corrects both the variance and the centring ((r - m) - shift): rows
// with a large offset and a small spread, common in a residual stream, then keep torch's accuracy.
inline void moments(const float* r, idx C, float& mean, float& shift, float& rstd, double eps) {
    const float inv_c = 1.0f / static_cast<float>(C);
    float s[P] = {};
    idx c = 0;
    for (; c + P <= C; c += P)
        for (int l = 0; l < P; ++l) s[l] += r[c + l];
    for (idx l = 0; c + l < C; ++l) s[l] += r[c + l];  // the tail in independent lanes too
    mean = reduce(s) / static_cast<float>(C);
    float d1[P] = {}, d2[P] = {};
    c = 0;
    for (; c + P <= C; c += P)
        for (int l = 0; l < P; ++l) {
            const float d = r[c + l] - mean;
            d1[l] += d;
            d2[l] += d * d;
        }
    for (idx l = 0; c + l < C; ++l) {
        const float d = r[c + l] - mean;
        d1[l] += d;
        d2[l] += d * d;
    }
    shift = reduce(d1) * inv_c;
    const float var = reduce(d2) * inv_c - shift * shift;
    rstd = 1.0f / std::sqrt((var > 0 ? var : 0.0f) + static_cast<float>(eps));
}

inline void normalize(const float* r, idx C, const float* w, const float* b, double eps, float* out) {
    float mean, shift, rstd;
    moments(r, C, mean, shift, rstd, eps);
    for (idx c = 0; c < C; ++c) out[c] = ((r[c] - mean) - shift) * rstd * w[c] + b[c];
}

inline const float* source_row(const float* base, const idx* rows, idx t, idx C) {
    return base + (rows ? rows[t] : t) * C;
}

}  // namespace

extern "C" {

void swinsr_gather_ln_f32(const float* x, const idx* rows, idx B, idx t_src, idx t_dst, idx C, const float* w,
                          const float* b, double eps, float* out) {
#pragma omp parallel for schedule(static)
    for (idx i = 0; i < B * t_dst; ++i) {
        const idx n = i / t_dst, t = i % t_dst;
        normalize(source_row(x + n * t_src * C, rows, t, C), C, w, b, eps, out + i * C);
    }
}

void swinsr_add_gather_ln_f32(const float* x, const float* y, const idx* rows, idx B, idx t_src, idx t_dst, idx C,
                              const float* w, const float* b, double eps, float* sum, float* norm) {
#pragma omp parallel for schedule(static)
    for (idx i = 0; i < B * t_dst; ++i) {
        const idx n = i / t_dst, t = i % t_dst;
        const float* xr = x + i * C;
        const float* yr = source_row(y + n * t_src * C, rows, t, C);
        float* sr = sum + i * C;
        for (idx c = 0; c < C; ++c) sr[c] = xr[c] + yr[c];
        if (norm) normalize(sr, C, w, b, eps, norm + i * C);
    }
}

void swinsr_gather_ln_add_f32(const float* x, const float* y, const idx* rows, idx B, idx t_src, idx t_dst, idx C,
                              const float* w, const float* b, double eps, float* sum) {
#pragma omp parallel for schedule(static)
    for (idx i = 0; i < B * t_dst; ++i) {
        const idx n = i / t_dst, t = i % t_dst;
        const float* xr = x + i * C;
        const float* yr = source_row(y + n * t_src * C, rows, t, C);
        float* sr = sum + i * C;
        float mean, shift, rstd;
        moments(yr, C, mean, shift, rstd, eps);
        for (idx c = 0; c < C; ++c) sr[c] = xr[c] + (((yr[c] - mean) - shift) * rstd * w[c] + b[c]);
    }
}

int swinsr_token_norm_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

}  // extern "C"
