/*
 * roosbi: RooLearnedRatio
 *
 * The network is evaluated block by block (kBlock events at a time), with the activations of a
 * block stored input-major. Each dense layer is a small GEMM done by a register-blocked
 * micro-kernel on SIMD vectors, with the activation applied in registers before the store.
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
// instructions of the host CPU (the library is always built on the machine that runs it).
#if defined(__AVX512F__)
constexpr std::size_t kLanes = 8;
constexpr std::size_t kTileRows = 6; // 6 x 4 accumulators + 4 inputs + 1 weight: 29 of 32 registers
#elif defined(__AVX__)
constexpr std::size_t kLanes = 4;
constexpr std::size_t kTileRows = 3; // 3 x 4 accumulators + 4 inputs + 1 weight: 16 of 16 registers
#else
constexpr std::size_t kLanes = 2;
constexpr std::size_t kTileRows = 3;
#endif
constexpr std::size_t kTileVecs = 4;
constexpr std::size_t kTileEvents = kTileVecs * kLanes;
static_assert(kTileRows <= 6, "denseLayer handles at most 5 leftover rows");
typedef double Vec __attribute__((vector_size(kLanes * sizeof(double))));
typedef std::int64_t VecInt __attribute__((vector_size(kLanes * sizeof(double))));

inline Vec splat(double x)
{
   return Vec{} + x;
}

inline Vec load(const double *p)
{
   Vec v;
   std::memcpy(&v, p, sizeof v);
   return v;
}

inline void store(double *p, Vec v)
{
   std::memcpy(p, &v, sizeof v);
}

// A cast between vector types of the same size reinterprets the bits (GCC and Clang).
inline VecInt signBits(Vec x)
{
   return (VecInt)x & static_cast<std::int64_t>(0x8000000000000000ULL);
}

inline Vec withSignBits(Vec magnitude, VecInt sign)
{
   return (Vec)((VecInt)magnitude | sign);
}

inline Vec vabs(Vec x)
{
   return (Vec)((VecInt)x & static_cast<std::int64_t>(0x7fffffffffffffffULL));
}

/// A polynomial, coefficients highest degree first, as two interleaved Horner chains in x^2
/// (even and odd powers): half the chain of dependent multiply-adds of plain Horner.
template <std::size_t N>
inline Vec polynomial(Vec x, const double (&coeffs)[N])
{
   const Vec x2 = x * x;
   Vec even = splat(0.);
   Vec odd = splat(0.);
   for (std::size_t i = 0; i < N; ++i) {
      if ((N - 1 - i) % 2 == 0) {
         even = even * x2 + coeffs[i];
      } else {
         odd = odd * x2 + coeffs[i];
      }
   }
   return odd * x + even;
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

inline ExpParts expParts(Vec x)
{
   constexpr double kLog2e = 1.4426950408889634074;
   constexpr double kLn2Hi = 6.93147180369123816490e-01;
   constexpr double kLn2Lo = 1.90821492927058770002e-10;
   constexpr double kShift = 6755399441055744.0; // 1.5 * 2^52: adding it rounds to an integer
   x = x > 700. ? splat(700.) : x;
   x = x < -700. ? splat(-700.) : x;
   const Vec shifted = x * kLog2e + kShift;
   const Vec k = shifted - kShift;
   const Vec r = (x - k * kLn2Hi) - k * kLn2Lo;
   constexpr double kCoeffs[] = {2.510520637395701e-08,  2.7626357241447223e-07, 2.7557255425746435e-06,
                                 2.4801504346997686e-05, 0.00019841269874800493, 0.0013888888932488599,
                                 0.008333333333326141,   0.04166666666657314,    0.1666666666666667,
                                 0.5000000000000006,     1.};
   const Vec p = polynomial(r, kCoeffs);
   const VecInt twoKBits = ((VecInt)shifted - 0x4338000000000000LL + 1023) << 52; // k + 1023 in the exponent
   return {(Vec)twoKBits, p * r};
}

inline Vec vexp(Vec x)
{
   const ExpParts e = expParts(x);
   return e.twoK * e.q + e.twoK;
}

inline Vec vexpm1(Vec x)
{
   const ExpParts e = expParts(x);
   return e.twoK * e.q + (e.twoK - 1.);
}

/// log1p(t) for t in [0, 1] as 2 atanh(s), s = t / (2 + t) <= 1/3, with atanh(s) / s a
/// degree-9 polynomial in s^2 (4e-16 relative; scripts/activation_coefficients.py).
inline Vec vlog1pUnit(Vec t)
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
inline Vec vnormalCdf(Vec x)
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

inline Vec vsigmoid(Vec x)
{
   const Vec e = vexp(-vabs(x)); // never overflows
   const Vec s = 1. / (1. + e);
   return x >= 0. ? s : e * s;
}

/// tanh(|x|) = expm1(2|x|) / (expm1(2|x|) + 2): no cancellation near 0, so the relative error
/// is a few ulp everywhere (tested against std::tanh to 1e-14).
inline Vec vtanh(Vec x)
{
   const Vec e = vexpm1(2. * vabs(x));
   return withSignBits(e / (e + 2.), signBits(x));
}

/// The activation of a layer on one vector of values. Comparisons are written so that NaN
/// propagates, as in torch.
inline Vec activate(Vec v, int kind, double param)
{
   constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
   constexpr double kSeluScale = 1.0507009873554804934193349852946;
   switch (kind) {
   case RooLearnedRatio::kIdentity: return v;
   case RooLearnedRatio::kTanh: return vtanh(v);
   case RooLearnedRatio::kRelu: return v < 0. ? splat(0.) : v;
   case RooLearnedRatio::kSigmoid: return vsigmoid(v);
   case RooLearnedRatio::kLeakyRelu: return v < 0. ? param * v : v;
   case RooLearnedRatio::kElu: return v < 0. ? param * vexpm1(v) : v;
   case RooLearnedRatio::kSelu: return kSeluScale * (v < 0. ? kSeluAlpha * vexpm1(v) : v);
   case RooLearnedRatio::kSiLU: return v * vsigmoid(v);
   case RooLearnedRatio::kSoftplus: return (v > 0. ? v : splat(0.)) + vlog1pUnit(vexp(-vabs(v)));
   case RooLearnedRatio::kGelu: return v * vnormalCdf(v);
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

/// Rows [row, row + kRows) of a layer for a block of kBlock events stored input-major
/// (src[i * kBlock + e], dst[j * kBlock + e]). This is a GEMM micro-kernel: a tile of kRows
/// outputs x kTileVecs vectors of events is accumulated in registers over all inputs (per input:
/// kTileVecs loads, kRows broadcasts, kRows * kTileVecs multiply-adds), then activated and
/// stored once. It runs at 55-100 GFLOP/s for widths 64-256 on the development machine.
template <std::size_t kBlock, std::size_t kRows>
void denseRows(const Layer &layer, std::size_t row, std::size_t nEvents, const double *src, double *dst)
{
   const double *w = layer.weights + row * layer.nIn;
   const std::size_t first = layer.inputRanges[2 * (row / kTileRows)];
   const std::size_t last = layer.inputRanges[2 * (row / kTileRows) + 1];
   for (std::size_t e0 = 0; e0 < nEvents; e0 += kTileEvents) {
      Vec acc[kRows][kTileVecs];
      for (std::size_t r = 0; r < kRows; ++r) {
         for (std::size_t c = 0; c < kTileVecs; ++c) {
            acc[r][c] = splat(layer.biases[row + r]);
         }
      }
      for (std::size_t i = first; i < last; ++i) {
         Vec in[kTileVecs];
         for (std::size_t c = 0; c < kTileVecs; ++c) {
            in[c] = load(src + i * kBlock + e0 + c * kLanes);
         }
         for (std::size_t r = 0; r < kRows; ++r) {
            const Vec wri = splat(w[r * layer.nIn + i]);
            for (std::size_t c = 0; c < kTileVecs; ++c) {
               acc[r][c] += wri * in[c];
            }
         }
      }
      for (std::size_t r = 0; r < kRows; ++r) {
         for (std::size_t c = 0; c < kTileVecs; ++c) {
            store(dst + (row + r) * kBlock + e0 + c * kLanes, activate(acc[r][c], layer.activation, layer.param));
         }
      }
   }
}

/// The first nEvents (rounded up to whole tiles) events of a block through one layer.
template <std::size_t kBlock>
void denseLayer(const Layer &layer, std::size_t nEvents, const double *src, double *dst)
{
   static_assert(kBlock % kTileEvents == 0, "a block must hold whole tiles");
   nEvents = std::min(kBlock, (nEvents + kTileEvents - 1) / kTileEvents * kTileEvents);
   std::size_t row = 0;
   for (; row + kTileRows <= layer.nOut; row += kTileRows) {
      denseRows<kBlock, kTileRows>(layer, row, nEvents, src, dst);
   }
   switch (layer.nOut - row) { // the last rows, fewer than a full tile
   case 0: return;
   case 1: return denseRows<kBlock, 1>(layer, row, nEvents, src, dst);
   case 2: return denseRows<kBlock, 2>(layer, row, nEvents, src, dst);
   case 3: return denseRows<kBlock, 3>(layer, row, nEvents, src, dst);
   case 4: return denseRows<kBlock, 4>(layer, row, nEvents, src, dst);
   default: return denseRows<kBlock, 5>(layer, row, nEvents, src, dst);
   }
}

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
      denseLayer<kBlock>(layer, n, src, dst);
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
   std::vector<double> block(std::max<std::size_t>(1, first.columns.size()) * kBlock, 0.);
   std::vector<double> scratch(2 * kBlock * maxWidth);
   for (std::size_t start = begin; start < end; start += kBlock) {
      const std::size_t m = std::min(kBlock, end - start);
      for (std::size_t k = 0; k < first.columns.size(); ++k) {
         const Column &col = columns[first.columns[k]];
         double *dst = block.data() + k * kBlock;
         for (std::size_t e = 0; e < m; ++e) {
            dst[e] = col.data[(start + e) * col.stride];
         }
      }
      forwardBlock(block.data(), first, m, out + start, scratch.data(), scratch.data() + kBlock * maxWidth);
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
