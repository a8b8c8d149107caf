/*
 * roosbi: RooLearnedRatio
 *
 * The network is evaluated block by block (kBlock events at a time), with the activations of a
 * block stored input-major, so that the innermost loop runs over events with a fixed trip count
 * and the compiler vectorises it. Everything is double precision: Minuit differentiates the NLL
 * numerically and needs it smooth far below float32 resolution.
 */

#include "RooLearnedRatio.h"

#include <RooAbsRealLValue.h>
#include <RooFit/EvalContext.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <thread>

ClassImp(RooLearnedRatio);

namespace {

// 8-point Gauss-Legendre rule on [-1, 1]: nodes +-kGLNodes[k] share the weight kGLWeights[k].
constexpr double kGLNodes[4] = {0.1834346424956498049394761, 0.5255324099163289858177390,
                                0.7966664774136267395915539, 0.9602898564975362316835609};
constexpr double kGLWeights[4] = {0.3626837833783619829651504, 0.3137066458778872873379622,
                                  0.2223810344533744705443560, 0.1012285362903762591525314};

inline double sigmoid(double x)
{
   // Written so that exp never overflows.
   if (x >= 0.) {
      return 1. / (1. + std::exp(-x));
   }
   const double e = std::exp(x);
   return e / (1. + e);
}

/// exp(x) without branches or library calls, so that loops over it vectorise: Cody-Waite
/// reduction x = k ln2 + r, |r| <= ln2 / 2, a degree-13 Taylor polynomial for exp(r) (truncation
/// below 1e-17 relative) and 2^k assembled in the exponent bits. Arguments are clamped to +-700.
inline double vecExp(double x)
{
   constexpr double kLog2e = 1.4426950408889634074;
   constexpr double kLn2Hi = 6.93147180369123816490e-01;
   constexpr double kLn2Lo = 1.90821492927058770002e-10;
   constexpr double kShift = 6755399441055744.0; // 1.5 * 2^52: adding it rounds to an integer
   x = std::min(std::max(x, -700.), 700.);
   const double shifted = x * kLog2e + kShift;
   const double k = shifted - kShift;
   const double r = (x - k * kLn2Hi) - k * kLn2Lo;
   double p = 1. / 6227020800.;
   p = p * r + 1. / 479001600.;
   p = p * r + 1. / 39916800.;
   p = p * r + 1. / 3628800.;
   p = p * r + 1. / 362880.;
   p = p * r + 1. / 40320.;
   p = p * r + 1. / 5040.;
   p = p * r + 1. / 720.;
   p = p * r + 1. / 120.;
   p = p * r + 1. / 24.;
   p = p * r + 1. / 6.;
   p = p * r + 0.5;
   p = p * r + 1.;
   p = p * r + 1.;
   std::int64_t bits;
   std::memcpy(&bits, &shifted, sizeof bits);
   bits = (bits - 0x4338000000000000LL + 1023) << 52; // k + 1023 in the exponent field
   double twoK;
   std::memcpy(&twoK, &bits, sizeof twoK);
   return p * twoK;
}

/// tanh from one vectorisable exp: relative error below 1e-13 against std::tanh. Tiny arguments,
/// where 1 - 2 / (e + 1) would cancel, take the Taylor series; both are computed and one is
/// selected, so the loop has no branch.
inline double fastTanh(double x)
{
   const double a = std::abs(x);
   const double x2 = x * x;
   const double series = x * (1. - x2 * (1. / 3. - x2 * (2. / 15. - x2 * (17. / 315.))));
   const double t = std::copysign(1. - 2. / (vecExp(2. * a) + 1.), x);
   return a < 2e-3 ? series : t;
}

void applyActivation(int kind, double param, double *v, std::size_t n)
{
   constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
   constexpr double kSeluScale = 1.0507009873554804934193349852946;
   constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
   switch (kind) {
   case RooLearnedRatio::kIdentity: return;
   case RooLearnedRatio::kTanh:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = fastTanh(v[i]);
      return;
   case RooLearnedRatio::kRelu:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = v[i] > 0. ? v[i] : 0.;
      return;
   case RooLearnedRatio::kSigmoid:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = sigmoid(v[i]);
      return;
   case RooLearnedRatio::kLeakyRelu:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = v[i] > 0. ? v[i] : param * v[i];
      return;
   case RooLearnedRatio::kElu:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = v[i] > 0. ? v[i] : param * std::expm1(v[i]);
      return;
   case RooLearnedRatio::kSelu:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = kSeluScale * (v[i] > 0. ? v[i] : kSeluAlpha * std::expm1(v[i]));
      return;
   case RooLearnedRatio::kSoftplus:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = std::max(v[i], 0.) + std::log1p(std::exp(-std::abs(v[i])));
      return;
   case RooLearnedRatio::kSiLU:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = v[i] * sigmoid(v[i]);
      return;
   case RooLearnedRatio::kGelu:
      for (std::size_t i = 0; i < n; ++i)
         v[i] = 0.5 * v[i] * (1. + std::erf(v[i] * kInvSqrt2));
      return;
   default: throw std::runtime_error("RooLearnedRatio: unknown activation code " + std::to_string(kind));
   }
}

/// dst[j][e] = b[j] + sum_i w[j][i] src[i][e] for a block of kBlock events stored input-major.
/// The innermost loop runs over the events of the block with a fixed trip count, which the
/// compiler turns into vector multiply-adds (22-39 GFLOP/s for a 64 x 64 layer here).
/// A register-blocked variant (4 rows x 8 events of accumulators) made the whole network three
/// times slower.
template <std::size_t kBlock>
void denseLayer(const double *w, const double *b, std::size_t nIn, std::size_t nOut, const double *src, double *dst)
{
   for (std::size_t j = 0; j < nOut; ++j) {
      double *d = dst + j * kBlock;
      std::fill(d, d + kBlock, b[j]);
      for (std::size_t i = 0; i < nIn; ++i) {
         const double wji = w[j * nIn + i];
         const double *s = src + i * kBlock;
         for (std::size_t e = 0; e < kBlock; ++e) {
            d[e] += wji * s[e];
         }
      }
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
     _integrationPoints(other._integrationPoints)
{
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

void RooLearnedRatio::forwardBlock(const double *in, std::size_t n, double *out, double *bufA, double *bufB) const
{
   double *bufs[2] = {bufA, bufB};

   const double *src = in;
   const double *w = _weights.data();
   const double *b = _biases.data();
   for (std::size_t l = 0; l + 1 < _sizes.size(); ++l) {
      const std::size_t nIn = _sizes[l];
      const std::size_t nOut = _sizes[l + 1];
      double *dst = bufs[l % 2];
      denseLayer<kBlock>(w, b, nIn, nOut, src, dst);
      applyActivation(_activations[l], _activationParams[l], dst, nOut * kBlock);
      w += nIn * nOut;
      b += nOut;
      src = dst;
   }
   std::copy(src, src + n, out);
}

void RooLearnedRatio::evalRange(const std::vector<Column> &columns, std::size_t begin, std::size_t end,
                                double *out) const
{
   const std::size_t nIn = columns.size();
   const std::size_t maxWidth = *std::max_element(_sizes.begin(), _sizes.end());
   std::vector<double> block(nIn * kBlock, 0.);
   std::vector<double> scratch(2 * kBlock * maxWidth);
   for (std::size_t i = 0; i < nIn; ++i) { // a parameter has one value for all events: fill it once
      if (columns[i].stride == 0) {
         std::fill(block.begin() + i * kBlock, block.begin() + (i + 1) * kBlock, columns[i].data[0]);
      }
   }
   for (std::size_t start = begin; start < end; start += kBlock) {
      const std::size_t m = std::min(kBlock, end - start);
      for (std::size_t i = 0; i < nIn; ++i) {
         const Column &col = columns[i];
         double *dst = block.data() + i * kBlock;
         for (std::size_t e = 0; col.stride != 0 && e < m; ++e) {
            dst[e] = col.data[(start + e) * col.stride];
         }
      }
      forwardBlock(block.data(), m, out + start, scratch.data(), scratch.data() + kBlock * maxWidth);
   }
}

void RooLearnedRatio::evalColumns(const std::vector<Column> &columns, std::size_t n, double *out) const
{
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

void RooLearnedRatio::logRatio(const double *in, std::size_t n, double *out) const
{
   const std::size_t nIn = _sizes.front();
   std::vector<Column> columns;
   for (std::size_t i = 0; i < nIn; ++i) {
      columns.push_back({in + i, nIn});
   }
   evalColumns(columns, n, out);
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
   // Only r itself is a density to integrate; only a single input that is a variable, and on which
   // no other input depends, is integrated here (by a fixed quadrature, which keeps the integral a
   // smooth function of the parameters, unlike an adaptive one).
   if (_output != kRatio) {
      return 0;
   }
   int found = -1;
   for (std::size_t i = 0; i < _inputs.size(); ++i) {
      if (!allVars.find(_inputs[i])) {
         continue;
      }
      if (found >= 0 || !dynamic_cast<const RooAbsRealLValue *>(&_inputs[i])) {
         return 0;
      }
      found = static_cast<int>(i);
   }
   if (found < 0) {
      return 0;
   }
   for (std::size_t j = 0; j < _inputs.size(); ++j) {
      if (static_cast<int>(j) != found && _inputs[j].dependsOn(_inputs[found])) {
         return 0;
      }
   }
   analVars.add(_inputs[found]);
   return found + 1;
}

double RooLearnedRatio::analyticalIntegral(Int_t code, const char *rangeName) const
{
   const std::size_t idx = code - 1;
   const std::size_t nIn = _inputs.size();
   const auto &var = static_cast<const RooAbsRealLValue &>(_inputs[idx]);
   const double lo = var.getMin(rangeName);
   const double hi = var.getMax(rangeName);
   if (!std::isfinite(lo) || !std::isfinite(hi)) {
      throw std::runtime_error(std::string("RooLearnedRatio '") + GetName() + "': cannot integrate over '" +
                               var.GetName() + "', its range is not finite");
   }

   const std::size_t nPanels = _integrationPoints / 8;
   const double halfWidth = 0.5 * (hi - lo) / nPanels;
   std::vector<double> in(nIn * _integrationPoints);
   std::vector<double> weights(_integrationPoints);
   for (std::size_t i = 0; i < nIn; ++i) {
      if (i == idx) {
         continue;
      }
      const double value = static_cast<const RooAbsReal &>(_inputs[i]).getVal();
      for (std::size_t p = 0; p < static_cast<std::size_t>(_integrationPoints); ++p) {
         in[p * nIn + i] = value;
      }
   }
   for (std::size_t panel = 0; panel < nPanels; ++panel) {
      const double centre = lo + (2 * panel + 1) * halfWidth;
      for (std::size_t k = 0; k < 4; ++k) {
         const std::size_t p = panel * 8 + 2 * k;
         in[p * nIn + idx] = centre - halfWidth * kGLNodes[k];
         in[(p + 1) * nIn + idx] = centre + halfWidth * kGLNodes[k];
         weights[p] = weights[p + 1] = halfWidth * kGLWeights[k];
      }
   }

   std::vector<double> logr(_integrationPoints);
   logRatio(in.data(), _integrationPoints, logr.data());
   double sum = 0.;
   for (std::size_t p = 0; p < logr.size(); ++p) {
      sum += weights[p] * std::exp(logr[p]);
   }
   return sum;
}
