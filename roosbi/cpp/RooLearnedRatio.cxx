/*
 * roosbi: RooLearnedRatio
 *
 * The network is evaluated block by block (kBlock events at a time), with the activations of a
 * block stored input-major. Each dense layer is a small GEMM done by a register-blocked
 * micro-kernel on SIMD vectors (a tile shape per instruction set: AVX-512, AVX2, SSE2), with the
 * activation applied to each tile while it is in the L1 cache. The results do not depend on the
 * instruction set as long as it has FMA (docs/kernel.md).
 * Inputs that are the same for every event of a call (the parameters, during a fit) are folded
 * into the first layer's biases once per call. Everything is double precision: Minuit
 * differentiates the NLL numerically and needs it smooth far below float32 resolution.
 */

#include "RooLearnedRatio.h"

#include <RooAbsRealLValue.h>
#include <RooFit/EvalContext.h>
#include <RooMsgService.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

ClassImp(RooLearnedRatio);

namespace {

// 8-point Gauss-Legendre rule on [-1, 1]: nodes +-kGLNodes[k] share the weight kGLWeights[k].
constexpr double kGLNodes[4] = {0.1834346424956498049394761, 0.5255324099163289858177390,
                                0.7966664774136267395915539, 0.9602898564975362316835609};
constexpr double kGLWeights[4] = {0.3626837833783619829651504, 0.3137066458778872873379622,
                                  0.2223810344533744705443560, 0.1012285362903762591525314};

constexpr double kInf = std::numeric_limits<double>::infinity();

/// A number for a message: the shortest form that is exact up to 8 digits ("4", "1e+300", "-inf",
/// "14.999731").
std::string number(double x)
{
   std::string text;
   for (int digits = 1; digits <= 8; ++digits) {
      std::ostringstream out;
      out.precision(digits);
      out << x;
      text = out.str();
      if (std::isnan(x) || std::strtod(text.c_str(), nullptr) == x) {
         break;
      }
   }
   return text;
}

inline double sigmoid(double x)
{
   // Written so that exp never overflows.
   if (x >= 0.) {
      return 1. / (1. + std::exp(-x));
   }
   const double e = std::exp(x);
   return e / (1. + e);
}

// The kernels below are written on GCC/Clang vector types: arithmetic on a Vec compiles to SIMD
// instructions of the target CPU (-march, see roosbi/library.py): 8 doubles per vector and 32
// vector registers with AVX-512, 4 and 16 with AVX2, 2 and 16 with SSE2.
#if defined(__AVX512F__)
constexpr std::size_t kLanes = 8;
constexpr std::size_t kRegisters = 32;
#elif defined(__AVX__)
constexpr std::size_t kLanes = 4;
constexpr std::size_t kRegisters = 16;
#else
constexpr std::size_t kLanes = 2;
constexpr std::size_t kRegisters = 16;
#endif
/// Output rows of a full tile of the GEMM micro-kernel (see denseRows).
constexpr std::size_t kTileRows = 6;

/// Vectors of events in a tile of `rows` output rows: the most (a power of two, at most 8) whose
/// rows x vecs accumulators, the vecs input vectors they share (none for one row: each is used
/// once, straight from memory) and one broadcast weight fit in the vector registers with one to
/// spare. A spilled accumulator puts a store and a reload into the chain of multiply-adds (the
/// AVX2 tile of 3 x 4 accumulators + 4 inputs + 1 weight was one register short). Full tiles:
/// 6 x 4 with AVX-512 (29 registers), 6 x 2 with AVX2 and SSE2 (15).
constexpr std::size_t tileVecs(std::size_t rows)
{
   std::size_t vecs = 8;
   while (vecs > 1 && rows * vecs + (rows > 1 ? vecs : 0) + 1 > kRegisters - 1) {
      vecs /= 2;
   }
   return vecs;
}
constexpr std::size_t kTileEvents = tileVecs(kTileRows) * kLanes;

typedef double Vec __attribute__((vector_size(kLanes * sizeof(double))));
typedef std::int64_t VecInt __attribute__((vector_size(kLanes * sizeof(double))));

/// The vector functions are forced inline: each activation is one loop over a tile (see
/// activateRows), and the compiler interleaves the independent iterations only when it sees them.
#define ROOSBI_INLINE inline __attribute__((always_inline))

/// x in every lane. Written x - 0 (exact for every x, -0 and NaN included), which the compiler
/// folds into a plain broadcast; Vec{} + x is not x for x = -0, so the compiler kept a scalar
/// addition before the broadcast (a second instruction on the shuffle port, which AVX-512 shares
/// with one of its two FMA units, for every weight of the micro-kernel).
ROOSBI_INLINE Vec splat(double x)
{
   return x - Vec{};
}

ROOSBI_INLINE Vec load(const double *p)
{
   Vec v;
   std::memcpy(&v, p, sizeof v);
   return v;
}

ROOSBI_INLINE void store(double *p, Vec v)
{
   std::memcpy(p, &v, sizeof v);
}

// A cast between vector types of the same size reinterprets the bits (GCC and Clang).
ROOSBI_INLINE VecInt signBits(Vec x)
{
   return (VecInt)x & static_cast<std::int64_t>(0x8000000000000000ULL);
}

ROOSBI_INLINE Vec withSignBits(Vec magnitude, VecInt sign)
{
   return (Vec)((VecInt)magnitude | sign);
}

ROOSBI_INLINE Vec vabs(Vec x)
{
   return (Vec)((VecInt)x & static_cast<std::int64_t>(0x7fffffffffffffffULL));
}

/// limit < x ? limit : x, as one min instruction (x where x is NaN). The compiler writes the
/// conditional itself as a compare and a blend, 3 or 4 micro-ops with AVX2 on recent Intel cores.
ROOSBI_INLINE Vec vclampAbove(Vec x, double limit)
{
#if defined(__AVX512F__)
   return (Vec)__builtin_ia32_minpd512_mask((__v8df)splat(limit), (__v8df)x, (__v8df)x, (__mmask8)-1,
                                            _MM_FROUND_CUR_DIRECTION);
#elif defined(__AVX__)
   return (Vec)_mm256_min_pd((__m256d)splat(limit), (__m256d)x);
#elif defined(__SSE2__)
   return (Vec)_mm_min_pd((__m128d)splat(limit), (__m128d)x);
#else
   return limit < x ? splat(limit) : x;
#endif
}

/// limit > x ? limit : x, as one max instruction (x where x is NaN; -0 for x = -0 and limit 0).
ROOSBI_INLINE Vec vclampBelow(Vec x, double limit)
{
#if defined(__AVX512F__)
   return (Vec)__builtin_ia32_maxpd512_mask((__v8df)splat(limit), (__v8df)x, (__v8df)x, (__mmask8)-1,
                                            _MM_FROUND_CUR_DIRECTION);
#elif defined(__AVX__)
   return (Vec)_mm256_max_pd((__m256d)splat(limit), (__m256d)x);
#elif defined(__SSE2__)
   return (Vec)_mm_max_pd((__m128d)splat(limit), (__m128d)x);
#else
   return limit > x ? splat(limit) : x;
#endif
}

/// A polynomial, coefficients highest degree first, as two interleaved Horner chains in x^2
/// (even and odd powers): half the chain of dependent multiply-adds of plain Horner. Each chain
/// starts at its highest coefficient (the same values as 0 * x^2 + c, one multiply-add less).
template <std::size_t N>
ROOSBI_INLINE Vec polynomial(Vec x, const double (&coeffs)[N])
{
   static_assert(N >= 2, "a polynomial of degree 1 or more");
   const Vec x2 = x * x;
   Vec top = splat(coeffs[0]);  // the chain of the power N - 1
   Vec next = splat(coeffs[1]); // the other one
   for (std::size_t i = 2; i < N; ++i) {
      if ((N - 1 - i) % 2 == (N - 1) % 2) {
         top = top * x2 + coeffs[i];
      } else {
         next = next * x2 + coeffs[i];
      }
   }
   return (N - 1) % 2 == 0 ? next * x + top : top * x + next;
}

/// 1.5 * 2^52 + 1023: y + kRoundShift rounds y to an integer k (for |y| < 2^51) and holds k + 1023,
/// the biased exponent of 2^k, in its low bits; k = (y + kRoundShift) - kRoundShift exactly.
constexpr double kRoundShift = 6755399441055744.0 + 1023.;

/// 2^k from shifted = y + kRoundShift (-1022 <= k <= 1023): its low bits moved into the exponent
/// field, the rest shifted out. One instruction.
ROOSBI_INLINE Vec powerOfTwo(Vec shifted)
{
   return (Vec)((VecInt)shifted << 52);
}

/// exp(x) split as 2^k (1 + q), with x = k ln2 + r, |r| <= ln2 / 2 and q = expm1(r): then
/// exp(x) = 2^k q + 2^k and expm1(x) = 2^k q + (2^k - 1), neither of which cancels. Cody-Waite
/// reduction, a degree-11 polynomial for expm1(r) (near-minimax, 2.2e-16 relative; coefficients
/// from scripts/activation_coefficients.py), 2^k assembled in the exponent bits; no branches and no library calls, so it runs on whole vectors.
/// Arguments are clamped to +-700; NaN propagates.
struct ExpParts {
   Vec twoK;
   Vec q;
};

ROOSBI_INLINE ExpParts expParts(Vec x)
{
   constexpr double kLog2e = 1.4426950408889634074;
   constexpr double kLn2Hi = 6.93147180369123816490e-01;
   constexpr double kLn2Lo = 1.90821492927058770002e-10;
   x = x > 700. ? splat(700.) : x;
   x = x < -700. ? splat(-700.) : x;
   const Vec shifted = x * kLog2e + kRoundShift;
   const Vec k = shifted - kRoundShift;
   const Vec r = (x - k * kLn2Hi) - k * kLn2Lo;
   constexpr double kCoeffs[] = {2.510520637395701e-08,  2.7626357241447223e-07, 2.7557255425746435e-06,
                                 2.4801504346997686e-05, 0.00019841269874800493, 0.0013888888932488599,
                                 0.008333333333326141,   0.04166666666657314,    0.1666666666666667,
                                 0.5000000000000006,     1.};
   const Vec p = polynomial(r, kCoeffs);
   return {powerOfTwo(shifted), p * r};
}

ROOSBI_INLINE Vec vexp(Vec x)
{
   const ExpParts e = expParts(x);
   return e.twoK * e.q + e.twoK;
}

ROOSBI_INLINE Vec vexpm1(Vec x)
{
   const ExpParts e = expParts(x);
   return e.twoK * e.q + (e.twoK - 1.);
}

/// log1p(t) for t in [0, 1] as 2 atanh(s), s = t / (2 + t) <= 1/3, with atanh(s) / s a
/// degree-9 polynomial in s^2 (4e-16 relative; scripts/activation_coefficients.py).
ROOSBI_INLINE Vec vlog1pUnit(Vec t)
{
   constexpr double kCoeffs[] = {0.08890381913056651, 0.04940394524382393, 0.06795652742789947, 0.07681838124445817,
                                 0.09091429900236955, 0.11111095430673142, 0.1428571455582858,  0.199999999976438,
                                 0.33333333333341286, 1.0};
   const Vec s = t / (2. + t);
   return 2. * s * polynomial(s * s, kCoeffs);
}

/// Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2. With z = |x| / sqrt 2, erfc(z) =
/// exp(-z^2) erfcx(z), and erfcx is a degree-20 polynomial in u = (z - 3.5) / (z + 3.5), which
/// maps [0, inf) onto [-1, 1) (5e-16 relative for z <= 6; scripts/activation_coefficients.py).
/// The small tail is computed directly on both sides, so neither cancels.
ROOSBI_INLINE Vec vnormalCdf(Vec x)
{
   constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
   constexpr double kCoeffs[] = {
      3.006925131070633e-09,   5.964660096756795e-09,   -2.6791308866198038e-08, -5.7718922846005977e-08,
      1.912335695316679e-07,   3.67056988179891e-07,    -1.5189569000075258e-06, -1.626981182474176e-06,
      1.3346180451768307e-05,  -4.674261281441653e-06,  -0.00010808480183637853, 0.0002885553512471909,
      0.0002673850862417465,   -0.004242238624226131,   0.016976760932403384,    -0.04543676118215168,
      0.09442780690911241,     -0.16133852476455793,    0.2331304816002531,      -0.2892650448327669,
      0.1552936556088943};
   Vec z = vabs(x) * kInvSqrt2;
   z = z > 27.5 ? splat(27.5) : z; // erfc(27.5) underflows to 0 anyway
   const Vec u = (z - 3.5) / (z + 3.5);
   const Vec tail = 0.5 * vexp(-0.5 * (x * x)) * polynomial(u, kCoeffs); // Phi(-|x|)
   return x < 0. ? tail : 1. - tail;
}

/// D(r) = r / expm1(r) = 1 - r/2 + r^2 G(r^2) for |r| <= ln2 / 2 (G even: Bernoulli numbers,
/// B2/2! + B4/4! r^2 + ...; a degree-4 polynomial, 2.2e-16 relative for D, see docs/kernel.md). With
/// y = k ln2 + r, exp(y) = 2^k (D + r) / D and expm1(y) = 2^k (1 + r / D) - 1: the quotients that
/// tanh and sigmoid take of exp(y) absorb this division, so they need one division and a polynomial
/// of 5 coefficients instead of one of 11 (expParts).
constexpr double kBernoulliG[] = {2.0718862826791008e-08, -8.267030082986318e-07, 3.3068782358539365e-05,
                                  -0.0013888888888782286, 0.0833333333333333};

/// sigmoid(x) with |x| = k ln2 + r (clamped to 700, as vexp; NaN stays NaN) and D as above:
/// exp(|x|) = 2^k (D + r) / D, so sigmoid(|x|) = u / (D + u) and sigmoid(-|x|) = D / (D + u) with
/// u = 2^k (D + r) (D + r ~ 1 + r/2: no cancellation). One division and no exp; at most 2.5 ulp
/// (the form 1 / (1 + exp(-|x|)) with expParts: 2.8 ulp).
ROOSBI_INLINE Vec vsigmoid(Vec x)
{
   constexpr double kLog2e = 1.4426950408889634074;
   constexpr double kLn2Hi = 6.93147180369123816490e-01;
   constexpr double kLn2Lo = 1.90821492927058770002e-10;
   const Vec y = vclampAbove(vabs(x), 700.);
   const Vec shifted = y * kLog2e + kRoundShift;
   const Vec k = shifted - kRoundShift;
   const Vec r = (y - k * kLn2Hi) - k * kLn2Lo;
   const Vec r2 = r * r;
   Vec g = splat(kBernoulliG[0]);
   for (std::size_t i = 1; i < 5; ++i) {
      g = g * r2 + kBernoulliG[i];
   }
   const Vec d = (1. - 0.5 * r) + r2 * g;
   const Vec twoK = powerOfTwo(shifted);
   const Vec u = twoK * (d + r);
   return (x >= 0. ? u : d) / (d + u);
}

/// tanh(|x|) = expm1(y) / (expm1(y) + 2) with y = 2|x| = k ln2 + r and D(r) as above:
///
///     tanh(|x|) = N / (N + D),  N = 2^k r + (2^k - 1) D,
///
/// one division for expm1 and the quotient together (it was expm1(y) / (expm1(y) + 2) with
/// expm1 from expParts: 34 vector instructions, now 26). For k = 0 N is r exactly; for k >= 1
/// both terms are positive or lose at most a factor 2.5. From k = 3 (|x| > 1.04) on it takes
/// 1 - D / (N + D) instead, where the rounding of N + D no longer shows. At most 2.7 ulp, correctly
/// rounded for 93 % of arguments (the expParts form: 3.9 ulp, 91 %; tested against std::tanh to
/// 1e-14). The code works with h = r / 2 and D / 2 (|x| = k ln2/2 + h;
/// G's coefficients scaled by powers of 2), which saves forming 2|x|. tanh is 1 in double beyond
/// |x| = 20, so |x| is clamped there (NaN stays NaN).
ROOSBI_INLINE Vec vtanh(Vec x)
{
   constexpr double kTwoLog2e = 2. * 1.4426950408889634074;
   constexpr double kHalfLn2Hi = 0.5 * 6.93147180369123816490e-01;
   constexpr double kHalfLn2Lo = 0.5 * 1.90821492927058770002e-10;
   // 2 G(4 z), highest degree first (kBernoulliG times 2 * 4^power, exact): D / 2 = 1/2 - h/2 + h^2 (2 G(4 h^2)).
   constexpr double kG[] = {1.0608057767316996e-05, -0.00010581798506222487, 0.0010582010354732597,
                            -0.011111111111025829, 0.1666666666666666};
   const Vec a = vclampAbove(vabs(x), 20.);
   const Vec shifted = a * kTwoLog2e + kRoundShift;
   const Vec k = shifted - kRoundShift;
   const Vec h = (a - k * kHalfLn2Hi) - k * kHalfLn2Lo;
   const Vec h2 = h * h;
   Vec g = splat(kG[0]);
   for (std::size_t i = 1; i < 5; ++i) {
      g = g * h2 + kG[i];
   }
   const Vec halfD = (0.5 - 0.5 * h) + h2 * g;
   const Vec twoK = powerOfTwo(shifted);
   const Vec num = twoK * h + (twoK * halfD - halfD); // N / 2; 2^k D / 2 is exact
   const Vec d = 2. * halfD;
   const auto far = k >= 3.;
   const Vec q = (far ? d : num) / (num + d);
#if defined(__AVX512F__)
   return withSignBits(far ? 1. - q : q, signBits(x)); // one masked subtraction
#else
   const Vec one = (Vec)(far & (VecInt)splat(1.)); // 1 where far, else 0: far ? 1 - q : q without a blend
   return withSignBits(q * (1. - 2. * one) + one, signBits(x));
#endif
}

/// `f` on rows [0, nRows) x events [0, nEvents) of `dst` (row j at dst[j * kStride]), in place.
template <std::size_t kStride, class F>
void applyRows(double *dst, std::size_t nRows, std::size_t nEvents, F f)
{
   for (std::size_t r = 0; r < nRows; ++r) {
      for (std::size_t e = 0; e < nEvents; e += kLanes) {
         store(dst + r * kStride + e, f(load(dst + r * kStride + e)));
      }
   }
}

/// The activation of a layer on rows of values, as applyRows. The kind is dispatched once per
/// tile, not once per vector (as it was, through an out-of-line call), so each case is a loop of
/// independent iterations that the compiler unrolls and interleaves. Comparisons are written so
/// that NaN propagates, as in torch.
template <std::size_t kStride>
void activateRows(int kind, double param, double *dst, std::size_t nRows, std::size_t nEvents)
{
   constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
   constexpr double kSeluScale = 1.0507009873554804934193349852946;
   auto apply = [&](auto f) { applyRows<kStride>(dst, nRows, nEvents, f); };
   switch (kind) {
   case RooLearnedRatio::kIdentity: return;
   case RooLearnedRatio::kTanh: return apply([](Vec v) { return vtanh(v); });
   case RooLearnedRatio::kRelu: return apply([](Vec v) { return vclampBelow(v, 0.); }); // v < 0 ? 0 : v
   case RooLearnedRatio::kSigmoid: return apply([](Vec v) { return vsigmoid(v); });
   case RooLearnedRatio::kLeakyRelu: return apply([param](Vec v) { return v < 0. ? param * v : v; });
   case RooLearnedRatio::kElu: return apply([param](Vec v) { return v < 0. ? param * vexpm1(v) : v; });
   case RooLearnedRatio::kSelu:
      return apply([](Vec v) { return kSeluScale * (v < 0. ? kSeluAlpha * vexpm1(v) : v); });
   case RooLearnedRatio::kSiLU: return apply([](Vec v) { return v * vsigmoid(v); });
   case RooLearnedRatio::kSoftplus:
      return apply([](Vec v) { return (v > 0. ? v : splat(0.)) + vlog1pUnit(vexp(-vabs(v))); });
   case RooLearnedRatio::kGelu: return apply([](Vec v) { return v * vnormalCdf(v); });
   default: throw std::runtime_error("RooLearnedRatio: unknown activation code " + std::to_string(kind));
   }
}

/// One dense layer and its activation, dst = act(W src + b).
struct Layer {
   const double *weights; ///< row-major [out][in]
   const double *biases;
   std::size_t nIn;
   std::size_t nOut;
   int activation;
   double param;
   const std::uint32_t *inputRanges; ///< per tile of kTileRows rows: [first, last) input with a weight != 0
};

/// For each tile of kTileRows rows (the last one may be shorter), the range of inputs that have a
/// non-zero weight in any of its rows. Dense layers get [0, nIn) everywhere; an ensemble exported
/// as one network has block-diagonal layers, and its tiles then skip the zero blocks.
std::vector<std::uint32_t> tileInputRanges(const double *w, std::size_t nIn, std::size_t nOut)
{
   std::vector<std::uint32_t> ranges;
   for (std::size_t row = 0; row < nOut; row += kTileRows) {
      std::size_t first = nIn;
      std::size_t last = 0;
      for (std::size_t r = row; r < std::min(nOut, row + kTileRows); ++r) {
         for (std::size_t i = 0; i < nIn; ++i) {
            if (w[r * nIn + i] != 0.) {
               first = std::min(first, i);
               last = std::max(last, i + 1);
            }
         }
      }
      ranges.push_back(static_cast<std::uint32_t>(std::min(first, last)));
      ranges.push_back(static_cast<std::uint32_t>(last));
   }
   return ranges;
}

/// Rows [row, row + kRows) x events [e0, e0 + tileVecs(kRows) * kLanes) of a layer, for a block
/// of events stored input-major, rows kStride values apart (src[i * kStride + e], dst[j * kStride
/// + e]). This is a GEMM micro-kernel: the tile of kRows outputs x kVecs vectors of events is accumulated in registers
/// over the inputs (per input: kVecs loads, kRows broadcasts, kRows * kVecs multiply-adds, each
/// sum in the order bias, input 0, input 1, ... whatever the tile shape, so every instruction set
/// gives the same numbers), then stored once and activated while it is in the L1 cache.
template <std::size_t kStride, std::size_t kRows>
void denseTile(const Layer &layer, std::size_t row, std::size_t e0, const double *src, double *dst)
{
   constexpr std::size_t kVecs = tileVecs(kRows);
   const double *w = layer.weights + row * layer.nIn;
   const std::size_t first = layer.inputRanges[2 * (row / kTileRows)];
   const std::size_t last = layer.inputRanges[2 * (row / kTileRows) + 1];
   Vec acc[kRows][kVecs];
   for (std::size_t r = 0; r < kRows; ++r) {
      const Vec bias = splat(layer.biases[row + r]);
      for (std::size_t c = 0; c < kVecs; ++c) {
         acc[r][c] = bias;
      }
   }
   for (std::size_t i = first; i < last; ++i) {
      Vec in[kVecs];
      for (std::size_t c = 0; c < kVecs; ++c) {
         in[c] = load(src + i * kStride + e0 + c * kLanes);
      }
      for (std::size_t r = 0; r < kRows; ++r) {
         const Vec wri = splat(w[r * layer.nIn + i]);
         for (std::size_t c = 0; c < kVecs; ++c) {
            acc[r][c] += wri * in[c];
         }
      }
   }
   if (layer.activation == RooLearnedRatio::kRelu) { // one instruction: applied before the store
      for (std::size_t r = 0; r < kRows; ++r) {
         for (std::size_t c = 0; c < kVecs; ++c) {
            store(dst + (row + r) * kStride + e0 + c * kLanes, vclampBelow(acc[r][c], 0.));
         }
      }
      return;
   }
   for (std::size_t r = 0; r < kRows; ++r) {
      for (std::size_t c = 0; c < kVecs; ++c) {
         store(dst + (row + r) * kStride + e0 + c * kLanes, acc[r][c]);
      }
   }
   activateRows<kStride>(layer.activation, layer.param, dst + row * kStride + e0, kRows, kVecs * kLanes);
}

/// Rows [row, row + kRows) for the first nEvents events, rounded up to whole tiles (at most kBlock).
template <std::size_t kBlock, std::size_t kStride, std::size_t kRows>
void denseRows(const Layer &layer, std::size_t row, std::size_t nEvents, const double *src, double *dst)
{
   constexpr std::size_t kEvents = tileVecs(kRows) * kLanes;
   static_assert(kBlock % kEvents == 0 && kBlock <= kStride, "a block must hold whole tiles");
   for (std::size_t e0 = 0; e0 < nEvents; e0 += kEvents) {
      denseTile<kStride, kRows>(layer, row, e0, src, dst);
   }
}

/// The first nEvents events of a block through one layer. Tiles of kTileRows rows go event tile by
/// event tile, all rows of one: the inputs of an event tile (nIn x kTileEvents values) stay in the
/// L1 cache while the weights stream past, which holds for the widest layers, where the block's
/// inputs do not fit (nIn x kBlock values, 64 KB at width 128). The rows left over (fewer than
/// kTileRows) then take the events in wider tiles, which keep enough sums in flight.
template <std::size_t kBlock, std::size_t kStride>
void denseLayer(const Layer &layer, std::size_t nEvents, const double *src, double *dst)
{
   static_assert(kBlock % kTileEvents == 0 && kBlock <= kStride, "a block must hold whole tiles");
   nEvents = std::min(kBlock, nEvents);
   const std::size_t fullRows = layer.nOut / kTileRows * kTileRows;
   for (std::size_t e0 = 0; e0 < nEvents; e0 += kTileEvents) {
      for (std::size_t row = 0; row < fullRows; row += kTileRows) {
         denseTile<kStride, kTileRows>(layer, row, e0, src, dst);
      }
   }
   static_assert(kTileRows <= 6, "denseLayer handles at most 5 leftover rows");
   switch (layer.nOut - fullRows) { // the last rows, fewer than a full tile
   case 0: return;
   case 1: return denseRows<kBlock, kStride, 1>(layer, fullRows, nEvents, src, dst);
   case 2: return denseRows<kBlock, kStride, 2>(layer, fullRows, nEvents, src, dst);
   case 3: return denseRows<kBlock, kStride, 3>(layer, fullRows, nEvents, src, dst);
   case 4: return denseRows<kBlock, kStride, 4>(layer, fullRows, nEvents, src, dst);
   default: return denseRows<kBlock, kStride, 5>(layer, fullRows, nEvents, src, dst);
   }
}

/// Values from one row of a block to the next in the buffers of the batch loop: kBlock events and
/// one cache line. With exactly kBlock (512 bytes) every row of a buffer started in the same 8 of
/// the L1 cache's 64 sets, and a tile's inputs of a 128-wide layer did not fit in their ways.
template <std::size_t kBlock>
constexpr std::size_t kRowStride = kBlock + 64 / sizeof(double);

/// `n` doubles, the first on a 64-byte boundary (a whole cache line, as an AVX-512 load wants).
struct AlignedBuffer {
   explicit AlignedBuffer(std::size_t n) : storage(n + 64 / sizeof(double), 0.)
   {
      void *p = storage.data();
      std::size_t space = storage.size() * sizeof(double);
      data = static_cast<double *>(std::align(64, n * sizeof(double), p, space));
   }
   std::vector<double> storage;
   double *data;
};

} // namespace

RooLearnedRatio::RooLearnedRatio(const char *name, const char *title, const RooArgList &inputs,
                                 const std::vector<int> &layerSizes, const std::vector<double> &weights,
                                 const std::vector<double> &biases, const std::vector<int> &activations,
                                 const std::vector<double> &activationParams,
                                 const std::vector<std::uint8_t> &onnxBytes, int output)
   : RooAbsReal(name, title),
     _inputs("inputs", "network inputs", this),
     _sizes(layerSizes),
     _weights(weights),
     _biases(biases),
     _activations(activations),
     _activationParams(activationParams),
     _onnxBytes(onnxBytes)
{
   const std::string where = std::string("RooLearnedRatio '") + name + "': ";
   for (RooAbsArg *arg : inputs) {
      if (!dynamic_cast<RooAbsReal *>(arg)) {
         throw std::invalid_argument(where + "input '" + arg->GetName() + "' is not a RooAbsReal");
      }
   }
   _inputs.add(inputs);
   if (_sizes.size() < 2) {
      throw std::invalid_argument(where + "need at least one layer");
   }
   if (_sizes.front() != static_cast<int>(_inputs.size())) {
      throw std::invalid_argument(where + "the network takes " + std::to_string(_sizes.front()) + " inputs but " +
                                  std::to_string(_inputs.size()) + " RooFit inputs were given");
   }
   if (_sizes.back() != 1) {
      throw std::invalid_argument(where + "the network must have one output, not " + std::to_string(_sizes.back()));
   }
   std::size_t nWeights = 0;
   std::size_t nBiases = 0;
   for (std::size_t l = 0; l + 1 < _sizes.size(); ++l) {
      if (_sizes[l] < 1 || _sizes[l + 1] < 1) {
         throw std::invalid_argument(where + "layer widths must be positive");
      }
      nWeights += static_cast<std::size_t>(_sizes[l]) * _sizes[l + 1];
      nBiases += _sizes[l + 1];
   }
   const std::size_t nLayers = _sizes.size() - 1;
   if (_weights.size() != nWeights || _biases.size() != nBiases || _activations.size() != nLayers ||
       _activationParams.size() != nLayers) {
      throw std::invalid_argument(where + "the weights, biases or activations do not match the layer sizes");
   }
   for (int kind : _activations) {
      if (kind < kIdentity || kind > kGelu) {
         throw std::invalid_argument(where + "unknown activation code " + std::to_string(kind));
      }
   }
   setOutput(output);
}

RooLearnedRatio::RooLearnedRatio(const RooLearnedRatio &other, const char *name)
   : RooAbsReal(other, name),
     _inputs("inputs", this, other._inputs),
     _sizes(other._sizes),
     _weights(other._weights),
     _biases(other._biases),
     _activations(other._activations),
     _activationParams(other._activationParams),
     _onnxBytes(other._onnxBytes),
     _output(other._output),
     _integrationPoints(other._integrationPoints),
     _trainingMin(other._trainingMin),
     _trainingMax(other._trainingMax),
     _trainingMargins(other._trainingMargins),
     _calibrationIn(other._calibrationIn),
     _calibrationOut(other._calibrationOut),
     _logNormalization(other._logNormalization),
     _reported(other._reported)
{
}

void RooLearnedRatio::setTrainingRanges(const std::vector<double> &lo, const std::vector<double> &hi,
                                        const std::vector<double> &margins)
{
   const std::string where = std::string("RooLearnedRatio::setTrainingRanges ('") + GetName() + "'): ";
   const std::size_t nIn = _inputs.size();
   if (lo.empty() && hi.empty() && margins.empty()) { // no ranges: no checks
      _trainingMin.clear();
      _trainingMax.clear();
      _trainingMargins.clear();
      _reported = std::make_shared<std::vector<char>>();
      return;
   }
   if (lo.size() != nIn || hi.size() != nIn || (!margins.empty() && margins.size() != nIn)) {
      const std::string n = std::to_string(nIn);
      throw std::invalid_argument(where + "need one entry per input: " + n + " lower bounds, " + n +
                                  " upper bounds and 0 or " + n + " margins, not " + std::to_string(lo.size()) + ", " +
                                  std::to_string(hi.size()) + " and " + std::to_string(margins.size()));
   }
   for (std::size_t i = 0; i < nIn; ++i) {
      const std::string input = std::string("input '") + _inputs[i].GetName() + "': ";
      if (std::isnan(lo[i]) || std::isnan(hi[i]) || !(lo[i] <= hi[i]) || lo[i] == kInf || hi[i] == -kInf) {
         throw std::invalid_argument(where + input + "[" + number(lo[i]) + ", " + number(hi[i]) +
                                     "] is not a range (need lo <= hi, no NaN)");
      }
      if (!margins.empty() && !(std::isfinite(margins[i]) && margins[i] >= 0.)) {
         throw std::invalid_argument(where + input + "the margin " + number(margins[i]) + " must be finite and >= 0");
      }
   }
   _trainingMin = lo;
   _trainingMax = hi;
   _trainingMargins = margins.empty() ? std::vector<double>(nIn, 0.) : margins;
   _reported = std::make_shared<std::vector<char>>(); // a fresh record for the new ranges
}

double RooLearnedRatio::rangeSlack(std::size_t i) const
{
   // The margin, plus 1e-9 of the width so that a value that is a bound up to rounding (a
   // parameter at the end of its range, written and read back) is inside. No slack for an
   // infinite range (it has no width to scale) and none for a zero-width one.
   const double width = _trainingMax[i] - _trainingMin[i];
   return std::isfinite(width) ? (_trainingMargins[i] + 1e-9) * width : 0.;
}

std::vector<double> RooLearnedRatio::coveredMin() const
{
   std::vector<double> out(_trainingMin.size());
   for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = _trainingMin[i] - rangeSlack(i);
   }
   return out;
}

std::vector<double> RooLearnedRatio::coveredMax() const
{
   std::vector<double> out(_trainingMax.size());
   for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = _trainingMax[i] + rangeSlack(i);
   }
   return out;
}

std::vector<int> RooLearnedRatio::inputsOutsideTrainingRange() const
{
   std::vector<int> out;
   for (std::size_t i = 0; i < _reported->size(); ++i) {
      if ((*_reported)[i]) {
         out.push_back(static_cast<int>(i));
      }
   }
   return out;
}

void RooLearnedRatio::checkTrainingRanges(const std::vector<Column> &columns, std::size_t n) const
{
   // Runs before any thread starts and only reads the inputs: one min/max pass per input not yet
   // reported, nothing once every input has been (or when there are no ranges). The record is
   // shared with clones, so the object a user holds knows what the NLL's clone of it saw, and a
   // scan that builds many NLLs reports each input once.
   if (_trainingMin.size() != columns.size() || n == 0) {
      return;
   }
   std::vector<char> &reported = *_reported;
   if (reported.size() != columns.size()) {
      reported.assign(columns.size(), 0);
   }
   for (std::size_t i = 0; i < columns.size(); ++i) {
      if (reported[i]) {
         continue;
      }
      const Column &col = columns[i];
      const std::size_t m = col.stride == 0 ? 1 : n;
      double vmin = kInf;
      double vmax = -kInf;
      for (std::size_t e = 0; e < m; ++e) { // NaN compares false and is skipped
         const double v = col.data[e * col.stride];
         vmin = v < vmin ? v : vmin;
         vmax = v > vmax ? v : vmax;
      }
      const double slack = rangeSlack(i);
      const double lo = _trainingMin[i] - slack;
      const double hi = _trainingMax[i] + slack;
      if (vmin >= lo && vmax <= hi) {
         continue;
      }
      const double value = vmin < lo && !(vmax > hi && vmax - hi > lo - vmin) ? vmin : vmax;
      reported[i] = 1;
      const std::string margin = _trainingMargins[i] > 0.
                                    ? " widened by " + number(100. * _trainingMargins[i]) + "% of its width each side"
                                    : "";
      coutW(Eval) << "RooLearnedRatio '" << GetName() << "': input '" << _inputs[i].GetName() << "' is evaluated at "
                  << number(value) << ", outside its training range [" << number(_trainingMin[i]) << ", "
                  << number(_trainingMax[i]) << "]" << margin
                  << ": the learned ratio is an extrapolation there (reported once per input)" << std::endl;
   }
}

void RooLearnedRatio::setOutput(int output)
{
   if (output != kRatio && output != kLogRatio && output != kScore) {
      throw std::invalid_argument("RooLearnedRatio::setOutput: output must be kRatio (0), kLogRatio (1) or kScore (2)");
   }
   _output = output;
   setValueDirty();
}

void RooLearnedRatio::setIntegrationPoints(int n)
{
   if (n < 8) {
      throw std::invalid_argument("RooLearnedRatio::setIntegrationPoints: need at least 8 points");
   }
   _integrationPoints = 8 * ((n + 7) / 8);
}

bool RooLearnedRatio::writeOnnx(const char *fileName) const
{
   std::ofstream out(fileName, std::ios::binary);
   out.write(reinterpret_cast<const char *>(_onnxBytes.data()), _onnxBytes.size());
   return static_cast<bool>(out);
}

double RooLearnedRatio::transform(double logr) const
{
   switch (_output) {
   case kLogRatio: return logr;
   case kScore: return sigmoid(logr);
   default: return std::exp(logr);
   }
}

int RooLearnedRatio::fgNumThreads = 1;

void RooLearnedRatio::setNumThreads(int n)
{
   fgNumThreads = std::max(1, n);
}

int RooLearnedRatio::numThreads()
{
   return fgNumThreads;
}

void RooLearnedRatio::forwardBlock(const double *in, const FirstLayer &first, std::size_t n, double *out, double *bufA,
                                   double *bufB) const
{
   double *bufs[2] = {bufA, bufB};
   const double *src = in;
   const double *w = _weights.data();
   const double *b = _biases.data();
   for (std::size_t l = 0; l + 1 < _sizes.size(); ++l) {
      const std::size_t nIn = _sizes[l];
      const std::size_t nOut = _sizes[l + 1];
      const Layer layer = l == 0 ? Layer{first.weights.data(), first.biases.data(), first.columns.size(), nOut,
                                         _activations[0],      _activationParams[0], first.inputRanges.data()}
                                 : Layer{w, b, nIn, nOut, _activations[l], _activationParams[l], _tileRanges[l].data()};
      double *dst = bufs[l % 2];
      denseLayer<kBlock, kRowStride<kBlock>>(layer, n, src, dst);
      w += nIn * nOut;
      b += nOut;
      src = dst;
   }
   std::copy(src, src + n, out);
}

RooLearnedRatio::FirstLayer RooLearnedRatio::firstLayer(const std::vector<Column> &columns) const
{
   // Inputs that have one value for all events (the parameters, in a fit) enter the first layer
   // once per call: their weighted sum is folded into its biases, and only the inputs that vary
   // from event to event are multiplied per event.
   const std::size_t nIn = columns.size();
   const std::size_t nOut = _sizes[1];
   FirstLayer first;
   first.biases.assign(_biases.begin(), _biases.begin() + nOut);
   for (std::size_t i = 0; i < nIn; ++i) {
      if (columns[i].stride != 0) {
         first.columns.push_back(i);
         continue;
      }
      for (std::size_t j = 0; j < nOut; ++j) {
         first.biases[j] += _weights[j * nIn + i] * columns[i].data[0];
      }
   }
   for (std::size_t j = 0; j < nOut; ++j) {
      for (std::size_t i : first.columns) {
         first.weights.push_back(_weights[j * nIn + i]);
      }
   }
   first.inputRanges = tileInputRanges(first.weights.data(), first.columns.size(), nOut);
   return first;
}

void RooLearnedRatio::evalRange(const std::vector<Column> &columns, std::size_t begin, std::size_t end,
                                double *out) const
{
   const FirstLayer first = firstLayer(columns);
   const std::size_t maxWidth = *std::max_element(_sizes.begin(), _sizes.end());
   constexpr std::size_t kStride = kRowStride<kBlock>;
   AlignedBuffer block(std::max<std::size_t>(1, first.columns.size()) * kStride);
   AlignedBuffer scratch(2 * kStride * maxWidth);
   for (std::size_t start = begin; start < end; start += kBlock) {
      const std::size_t m = std::min(kBlock, end - start);
      for (std::size_t k = 0; k < first.columns.size(); ++k) {
         const Column &col = columns[first.columns[k]];
         double *dst = block.data + k * kStride;
         for (std::size_t e = 0; e < m; ++e) {
            dst[e] = col.data[(start + e) * col.stride];
         }
      }
      forwardBlock(block.data, first, m, out + start, scratch.data, scratch.data + kStride * maxWidth);
   }
}

void RooLearnedRatio::setCalibration(const std::vector<double> &in, const std::vector<double> &out,
                                     double logNormalization)
{
   const std::string where = std::string("RooLearnedRatio::setCalibration ('") + GetName() + "'): ";
   if (in.size() != out.size()) {
      throw std::invalid_argument(where + "need one output per knot");
   }
   if (!std::isfinite(logNormalization)) {
      throw std::invalid_argument(where + "the log normalisation must be finite");
   }
   for (std::size_t k = 0; k < in.size(); ++k) {
      if (!std::isfinite(in[k]) || !std::isfinite(out[k])) {
         throw std::invalid_argument(where + "knots must be finite");
      }
      if (k > 0 && !(in[k] > in[k - 1])) {
         throw std::invalid_argument(where + "knots must be strictly increasing");
      }
   }
   _calibrationIn = in;
   _calibrationOut = out;
   _logNormalization = logNormalization;
   setValueDirty();
}

double RooLearnedRatio::calibrate(double logr) const
{
   const std::vector<double> &x = _calibrationIn;
   const std::vector<double> &y = _calibrationOut;
   double g = logr;
   if (!x.empty() && std::isfinite(logr)) {
      if (logr <= x.front()) {
         g = y.front() + (logr - x.front());
      } else if (logr >= x.back()) {
         g = y.back() + (logr - x.back());
      } else {
         const std::size_t k = std::upper_bound(x.begin(), x.end(), logr) - x.begin(); // x[k-1] <= logr < x[k]
         const double t = (logr - x[k - 1]) / (x[k] - x[k - 1]);
         g = y[k - 1] + t * (y[k] - y[k - 1]);
      }
   }
   return g - _logNormalization;
}

void RooLearnedRatio::evalColumns(const std::vector<Column> &columns, std::size_t n, double *out) const
{
   evalNetwork(columns, n, out);
   if (isCalibrated()) {
      for (std::size_t e = 0; e < n; ++e) {
         out[e] = calibrate(out[e]);
      }
   }
}

void RooLearnedRatio::evalNetwork(const std::vector<Column> &columns, std::size_t n, double *out) const
{
   checkTrainingRanges(columns, n);
   if (_tileRanges.empty()) { // once per object (also after reading it from a file), before any thread starts
      const double *w = _weights.data();
      _tileRanges.resize(_sizes.size() - 1);
      for (std::size_t l = 0; l + 1 < _sizes.size(); ++l) {
         _tileRanges[l] = tileInputRanges(w, _sizes[l], _sizes[l + 1]);
         w += static_cast<std::size_t>(_sizes[l]) * _sizes[l + 1];
      }
   }
   const std::size_t nThreads =
      std::min<std::size_t>(fgNumThreads, std::max<std::size_t>(1, n / kMinEventsPerThread));
   if (nThreads <= 1) {
      evalRange(columns, 0, n, out);
      return;
   }
   // Whole blocks per thread; every event is computed the same way whatever the split.
   const std::size_t nBlocks = (n + kBlock - 1) / kBlock;
   std::vector<std::thread> threads;
   for (std::size_t t = 0; t < nThreads; ++t) {
      const std::size_t begin = std::min(n, nBlocks * t / nThreads * kBlock);
      const std::size_t end = std::min(n, nBlocks * (t + 1) / nThreads * kBlock);
      threads.emplace_back([this, &columns, begin, end, out] { evalRange(columns, begin, end, out); });
   }
   for (std::thread &thread : threads) {
      thread.join();
   }
}

std::vector<RooLearnedRatio::Column> RooLearnedRatio::rowColumns(const double *in) const
{
   const std::size_t nIn = _sizes.front();
   std::vector<Column> columns;
   for (std::size_t i = 0; i < nIn; ++i) {
      columns.push_back({in + i, nIn});
   }
   return columns;
}

void RooLearnedRatio::logRatio(const double *in, std::size_t n, double *out) const
{
   evalColumns(rowColumns(in), n, out);
}

void RooLearnedRatio::networkLogRatio(const double *in, std::size_t n, double *out) const
{
   evalNetwork(rowColumns(in), n, out);
}

double RooLearnedRatio::evaluate() const
{
   std::vector<double> in(_inputs.size());
   for (std::size_t i = 0; i < _inputs.size(); ++i) {
      in[i] = static_cast<const RooAbsReal &>(_inputs[i]).getVal(_inputs.nset());
   }
   double logr = 0.;
   logRatio(in.data(), 1, &logr);
   return transform(logr);
}

void RooLearnedRatio::doEval(RooFit::EvalContext &ctx) const
{
   std::span<double> output = ctx.output();
   std::vector<Column> columns;
   for (std::size_t i = 0; i < _inputs.size(); ++i) {
      std::span<const double> span = ctx.at(&_inputs[i]);
      columns.push_back({span.data(), span.size() == 1 ? 0u : 1u}); // a parameter is one value for all
   }
   evalColumns(columns, output.size(), output.data());
   for (double &value : output) {
      value = transform(value);
   }
}

Int_t RooLearnedRatio::getAnalyticalIntegral(RooArgSet &allVars, RooArgSet &analVars, const char * /*rangeName*/) const
{
   // Only r itself is a density to integrate. Up to kMaxIntegrated inputs that are variables, and
   // on which no other input depends, are integrated here, by a fixed tensor-product quadrature:
   // unlike an adaptive one, it keeps the integral a smooth function of the parameters.
   if (_output != kRatio || _inputs.size() > 30) {
      return 0;
   }
   int mask = 0;
   for (std::size_t i = 0; i < _inputs.size(); ++i) {
      if (!allVars.find(_inputs[i])) {
         continue;
      }
      if (!dynamic_cast<const RooAbsRealLValue *>(&_inputs[i])) {
         return 0;
      }
      mask |= 1 << i;
   }
   const int nIntegrated = static_cast<int>(std::bitset<32>(mask).count());
   if (nIntegrated == 0 || nIntegrated > kMaxIntegrated) {
      return 0;
   }
   for (std::size_t j = 0; j < _inputs.size(); ++j) {
      for (std::size_t i = 0; i < _inputs.size(); ++i) {
         if (i != j && (mask >> i & 1) && _inputs[j].dependsOn(_inputs[i])) {
            return 0;
         }
      }
   }
   for (std::size_t i = 0; i < _inputs.size(); ++i) {
      if (mask >> i & 1) {
         analVars.add(_inputs[i]);
      }
   }
   return mask + 1;
}

int RooLearnedRatio::nodesPerDimension(int nIntegrated) const
{
   int n = _integrationPoints;
   for (int d = 1; d < nIntegrated; ++d) {
      n /= 8;
   }
   return std::max(32, 8 * ((n + 7) / 8));
}

double RooLearnedRatio::analyticalIntegral(Int_t code, const char *rangeName) const
{
   const unsigned mask = code - 1;
   const std::size_t nIn = _inputs.size();
   std::vector<std::size_t> dims;
   for (std::size_t i = 0; i < nIn; ++i) {
      if (mask >> i & 1) {
         dims.push_back(i);
      }
   }
   // Composite 8-point Gauss-Legendre nodes and weights along each integrated input.
   const std::size_t nNodes = nodesPerDimension(dims.size());
   std::vector<std::vector<double>> nodes(dims.size(), std::vector<double>(nNodes));
   std::vector<std::vector<double>> weights(dims.size(), std::vector<double>(nNodes));
   for (std::size_t d = 0; d < dims.size(); ++d) {
      const auto &var = static_cast<const RooAbsRealLValue &>(_inputs[dims[d]]);
      const double lo = var.getMin(rangeName);
      const double hi = var.getMax(rangeName);
      if (!std::isfinite(lo) || !std::isfinite(hi)) {
         throw std::runtime_error(std::string("RooLearnedRatio '") + GetName() + "': cannot integrate over '" +
                                  var.GetName() + "', its range is not finite");
      }
      const std::size_t nPanels = nNodes / 8;
      const double halfWidth = 0.5 * (hi - lo) / nPanels;
      for (std::size_t panel = 0; panel < nPanels; ++panel) {
         const double centre = lo + (2 * panel + 1) * halfWidth;
         for (std::size_t k = 0; k < 4; ++k) {
            const std::size_t p = panel * 8 + 2 * k;
            nodes[d][p] = centre - halfWidth * kGLNodes[k];
            nodes[d][p + 1] = centre + halfWidth * kGLNodes[k];
            weights[d][p] = weights[d][p + 1] = halfWidth * kGLWeights[k];
         }
      }
   }
   // The tensor-product grid, point by point: the integrated inputs vary, the others are the same
   // at every point.
   std::size_t nPoints = 1;
   for (std::size_t d = 0; d < dims.size(); ++d) {
      nPoints *= nNodes;
   }
   std::vector<std::vector<double>> grid(dims.size(), std::vector<double>(nPoints));
   std::vector<double> pointWeights(nPoints, 1.);
   for (std::size_t p = 0; p < nPoints; ++p) {
      std::size_t rest = p;
      for (std::size_t d = dims.size(); d-- > 0;) {
         const std::size_t k = rest % nNodes;
         rest /= nNodes;
         grid[d][p] = nodes[d][k];
         pointWeights[p] *= weights[d][k];
      }
   }
   std::vector<double> values(nIn);
   std::vector<Column> columns(nIn);
   for (std::size_t i = 0; i < nIn; ++i) {
      values[i] = static_cast<const RooAbsReal &>(_inputs[i]).getVal();
      columns[i] = Column{&values[i], 0};
   }
   for (std::size_t d = 0; d < dims.size(); ++d) {
      columns[dims[d]] = Column{grid[d].data(), 1};
   }

   std::vector<double> logr(nPoints);
   evalColumns(columns, nPoints, logr.data());
   double sum = 0.;
   for (std::size_t p = 0; p < nPoints; ++p) {
      sum += pointWeights[p] * std::exp(logr[p]);
   }
   return sum;
}
