// The input and output transforms of a Winograd F(4x4, 3x3) convolution for the CPU.
//
// Why: a 3x3 convolution of a feature map with C_in x C_out channels spends 9 multiply-adds per
// output value and input channel. Winograd's minimal filtering (Lavin & Gray 2016) computes each
// 4x4 output tile from a 6x6 input tile with 36 instead of 144: the input tile d and the kernel g
// are transformed (V = B^T d B, U = G g G^T), multiplied element by element and summed over input
// channels -- 36 independent GEMMs of (tiles x C_in) @ (C_in x C_out), done by the caller with
// torch.bmm -- and transformed back (Y = A^T M A). This file holds the two transforms, which are
// memory-bound passes: per tile, channel vectors are loaded and combined with the small constant
// matrices below, the channels innermost so the compiler vectorizes them for the build's ISA.
//
// Layouts (element strides, channels contiguous):
//   x     (N, H, W, C) input, strides sx_n, sx_h, sx_w, channel stride 1 (channels-last NCHW);
//         pixels outside [0, H) x [0, W) read as 0 (the convolution's zero padding of 1)
//   tiles t = (n * TH + ty) * TW + tx cover output rows 4 ty .. 4 ty + 3 and columns 4 tx .. 4 tx + 3;
//         a call transforms tiles [t0, t1), T = t1 - t0 of them (the caller bounds the scratch memory)
//   V     (36, T, C) contiguous, tile t at row t - t0
//   M     (36, T, O) contiguous: the GEMMs' result
//   y     (N, H, W, O) output, strides sy_n, sy_h, sy_w, channel stride 1; the last tile row and
//         column are cropped to H and W; bias (O) or null is added
// Transforms are applied along rows then columns with the coefficients written out: B^T and A^T
// have only the entries 0, +-1, +-2, +-4, +-5, +-8.

#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef int64_t idx;

namespace {

// channels per inner block: 6 x 6 x CB floats of scratch stay in L1
constexpr idx CB = 64;

// r = B^T d for one column of six channel blocks (d[k] at stride `ds`, r[k] at stride `rs`)
template <typename T>
inline void btd(const T* d, idx ds, T* r, idx rs, idx n) {
    for (idx c = 0; c < n; ++c) {
        T d0 = d[c], d1 = d[ds + c], d2 = d[2 * ds + c], d3 = d[3 * ds + c], d4 = d[4 * ds + c], d5 = d[5 * ds + c];
        r[c] = 4 * d0 - 5 * d2 + d4;
        r[rs + c] = -4 * (d1 + d2) + d3 + d4;
        r[2 * rs + c] = 4 * (d1 - d2) - d3 + d4;
        r[3 * rs + c] = 2 * (d3 - d1) - d2 + d4;
        r[4 * rs + c] = 2 * (d1 - d3) - d2 + d4;
        r[5 * rs + c] = 4 * d1 - 5 * d3 + d5;
    }
}

// y = A^T m for one column of six channel blocks
template <typename T>
inline void atm(const T* m, idx ms, T* y, idx ys, idx n) {
    for (idx c = 0; c < n; ++c) {
        T m0 = m[c], m1 = m[ms + c], m2 = m[2 * ms + c], m3 = m[3 * ms + c], m4 = m[4 * ms + c], m5 = m[5 * ms + c];
        T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        y[c] = m0 + s12 + s34;
        y[ys + c] = d12 + 2 * d34;
        y[2 * ys + c] = s12 + 4 * s34;
        y[3 * ys + c] = d12 + 8 * d34 + m5;
    }
}

template <typename T>
void input_transform(const T* x, idx H, idx W, idx C, idx sx_n, idx sx_h, idx sx_w, T* V, idx TH, idx TW, idx t0, idx t1) {
    const idx T_ = t1 - t0;
#pragma omp parallel
    {
        std::vector<T> zeros(C, T(0));
        alignas(64) T d[36 * CB], r[36 * CB];
#pragma omp for schedule(static)
        for (idx t = t0; t < t1; ++t) {
            const idx n = t / (TH * TW), ty = (t / TW) % TH, tx = t % TW;
            const T* rows[36];
            for (idx i = 0; i < 6; ++i) {
                const idx h = 4 * ty + i - 1;
                for (idx j = 0; j < 6; ++j) {
                    const idx w = 4 * tx + j - 1;
                    rows[i * 6 + j] = (h >= 0 && h < H && w >= 0 && w < W) ? x + n * sx_n + h * sx_h + w * sx_w : zeros.data();
                }
            }
            for (idx c0 = 0; c0 < C; c0 += CB) {
                const idx nc = C - c0 < CB ? C - c0 : CB;
                for (idx e = 0; e < 36; ++e) std::memcpy(d + e * CB, rows[e] + c0, nc * sizeof(T));
                // along the rows of the tile (i), for each column j: r[i][j] = sum_k B^T[i][k] d[k][j]
                for (idx j = 0; j < 6; ++j) btd(d + j * CB, 6 * CB, r + j * CB, 6 * CB, nc);
                // then along the columns, writing V[i*6 + j][t] directly
                T v[6 * CB];
                for (idx i = 0; i < 6; ++i) {
                    btd(r + i * 6 * CB, CB, v, CB, nc);
                    for (idx j = 0; j < 6; ++j) std::memcpy(V + ((i * 6 + j) * T_ + t - t0) * C + c0, v + j * CB, nc * sizeof(T));
                }
            }
        }
    }
}

template <typename T>
void output_transform(const T* M, idx H, idx W, idx O, T* y, idx sy_n, idx sy_h, idx sy_w, const T* bias, idx TH, idx TW, idx t0, idx t1) {
    const idx T_ = t1 - t0;
#pragma omp parallel
    {
        alignas(64) T m[36 * CB], r[24 * CB], out[4 * CB];
#pragma omp for schedule(static)
        for (idx t = t0; t < t1; ++t) {
            const idx n = t / (TH * TW), ty = (t / TW) % TH, tx = t % TW;
            const idx rows = H - 4 * ty < 4 ? H - 4 * ty : 4, cols = W - 4 * tx < 4 ? W - 4 * tx : 4;
            for (idx o0 = 0; o0 < O; o0 += CB) {
                const idx no = O - o0 < CB ? O - o0 : CB;
                for (idx e = 0; e < 36; ++e) std::memcpy(m + e * CB, M + (e * T_ + t - t0) * O + o0, no * sizeof(T));
                // r[a][j] = sum_i A^T[a][i] m[i][j]  (4 x 6)
                for (idx j = 0; j < 6; ++j) atm(m + j * CB, 6 * CB, r + j * CB, 6 * CB, no);
                for (idx a = 0; a < rows; ++a) {
                    atm(r + a * 6 * CB, CB, out, CB, no);  // out[b] = sum_j r[a][j] A^T[b][j]
                    T* dst = y + n * sy_n + (4 * ty + a) * sy_h + 4 * tx * sy_w + o0;
                    for (idx b = 0; b < cols; ++b) {
                        const T* src = out + b * CB;
                        T* p = dst + b * sy_w;
                        if (bias) {
                            for (idx c = 0; c < no; ++c) p[c] = src[c] + bias[o0 + c];
                        } else {
                            std::memcpy(p, src, no * sizeof(T));
                        }
                    }
                }
            }
        }
    }
}

}  // namespace

extern "C" {

void swinsr_wino43_input_f32(const float* x, idx H, idx W, idx C, idx sx_n, idx sx_h, idx sx_w, float* V, idx TH, idx TW,
                             idx t0, idx t1) {
    input_transform(x, H, W, C, sx_n, sx_h, sx_w, V, TH, TW, t0, t1);
}

void swinsr_wino43_output_f32(const float* M, idx H, idx W, idx O, float* y, idx sy_n, idx sy_h, idx sy_w, const float* bias,
                              idx TH, idx TW, idx t0, idx t1) {
    output_transform(M, H, W, O, y, sy_n, sy_h, sy_w, bias, TH, TW, t0, t1);
}

int swinsr_wino43_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

}  // extern "C"
