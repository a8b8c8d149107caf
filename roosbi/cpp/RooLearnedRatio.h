/*
 * roosbi: RooLearnedRatio
 *
 * A learned likelihood ratio r(x|theta) = p(x|theta) / p_ref(x) as a native RooFit function.
 * It evaluates a dense feed-forward network (translated from an ONNX graph by roosbi) in double
 * precision, per event in evaluate() and over whole batches in doEval(). Everything it needs is
 * a persistent member, so a workspace that holds it is self-contained: it opens in a plain C++
 * ROOT macro, and the original ONNX model can be written back out with writeOnnx().
 */

#ifndef ROOSBI_RooLearnedRatio_h
#define ROOSBI_RooLearnedRatio_h

#include <RooAbsReal.h>
#include <RooListProxy.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace RooFit {
class EvalContext;
}

class RooLearnedRatio : public RooAbsReal {
public:
   /// What the object returns: the ratio r, its logarithm, or the classifier score s = r / (1 + r).
   enum Output { kRatio = 0, kLogRatio = 1, kScore = 2 };

   /// Activation applied after a dense layer. Values are persisted: only append.
   enum Activation {
      kIdentity = 0,
      kTanh = 1,
      kRelu = 2,
      kSigmoid = 3,
      kLeakyRelu = 4, ///< parameter: negative slope
      kElu = 5,       ///< parameter: alpha
      kSelu = 6,
      kSoftplus = 7,
      kSiLU = 8,
      kGelu = 9 ///< exact (erf) form
   };

   RooLearnedRatio() = default;
   RooLearnedRatio(const char *name, const char *title, const RooArgList &inputs, const std::vector<int> &layerSizes,
                   const std::vector<double> &weights, const std::vector<double> &biases,
                   const std::vector<int> &activations, const std::vector<double> &activationParams,
                   const std::vector<std::uint8_t> &onnxBytes, int output = kRatio);
   RooLearnedRatio(const RooLearnedRatio &other, const char *name = nullptr);
   TObject *clone(const char *newname) const override { return new RooLearnedRatio(*this, newname); }

   /// Network inputs in the order the network expects them (observables, then parameters).
   const RooArgList &inputs() const { return _inputs; }
   /// Widths of all layers, input layer first; the last entry is 1.
   const std::vector<int> &layerSizes() const { return _sizes; }
   const std::vector<int> &activations() const { return _activations; }
   /// The ONNX model this object was built from, byte for byte.
   const std::vector<std::uint8_t> &onnxBytes() const { return _onnxBytes; }
   /// Write the stored ONNX model to a file. Returns false if the file cannot be written.
   bool writeOnnx(const char *fileName) const;

   int output() const { return _output; }
   void setOutput(int output);

   /// Number of fixed Gauss-Legendre nodes used to integrate r over one observable. Over d
   /// observables (up to 3) the rule is a tensor product with n / 8^(d-1) nodes per observable
   /// (at least 32): 512, 64 x 64 and 32 x 32 x 32 nodes by default.
   int integrationPoints() const { return _integrationPoints; }
   void setIntegrationPoints(int n);
   /// Nodes along each observable when `nIntegrated` observables are integrated together.
   int nodesPerDimension(int nIntegrated) const;

   /// \name Training ranges
   /// Where the network saw data: input i was trained on [trainingMin()[i], trainingMax()[i]]
   /// (observables: the extent of the training sample; parameters: their prior range). When the
   /// object is evaluated (evaluate, doEval, logRatio, the nodes of analyticalIntegral) with a value
   /// of input i below coveredMin()[i] or above coveredMax()[i], it prints one RooFit warning
   /// (topic Eval) for that input, naming the value and the range: the learned ratio is an
   /// extrapolation there. Each input is reported once per object; clones (RooFit clones the pdf
   /// for every NLL) share the record with the object they were copied from.
   ///
   /// The covered range is the training range widened by margin x (hi - lo) at each end, plus
   /// 1e-9 of the width for rounding. The margin is per input because the two kinds of inputs
   /// differ. A parameter is drawn uniformly over its whole prior range, so the network has seen
   /// values right up to both ends and none beyond: any step outside is an extrapolation, and a
   /// range widened by 1% must warn (margin 0, what roosbi uses). An observable's recorded range
   /// is only the smallest and largest of a finite sample: an observed event a little beyond it is
   /// expected now and then, and the network is smooth over a small fraction of its width, so
   /// only events well outside mean the learned ratio is being used where it knows nothing
   /// (roosbi uses 5% of the width each side).
   ///
   /// Objects without ranges (setTrainingRanges never called, or written by version 1 of this
   /// class) check nothing. None of this changes any value the object computes.
   /// @{

   /// Set the training range of every input, in network order. `margins` (default: 0 for all)
   /// is the fraction of its width by which each input may go beyond either end without a
   /// warning. A bound may be infinite (no check on that side); all may be empty (no checks).
   /// Throws std::invalid_argument unless there is one entry per input, no NaN, lo <= hi and
   /// every margin is finite and >= 0. Forgets which inputs were already reported.
   void setTrainingRanges(const std::vector<double> &lo, const std::vector<double> &hi,
                          const std::vector<double> &margins = {});
   const std::vector<double> &trainingMin() const { return _trainingMin; }
   const std::vector<double> &trainingMax() const { return _trainingMax; }
   const std::vector<double> &trainingMargins() const { return _trainingMargins; }
   bool hasTrainingRanges() const { return !_trainingMin.empty(); }
   /// The range of each input that evaluates without a warning (empty without training ranges).
   std::vector<double> coveredMin() const;
   std::vector<double> coveredMax() const;
   /// Indices of the inputs that were evaluated outside their covered range (and reported).
   std::vector<int> inputsOutsideTrainingRange() const;
   /// True once any input has been evaluated outside its covered range.
   bool outsideTrainingRange() const { return !inputsOutsideTrainingRange().empty(); }
   /// @}

   /// Evaluate log r for `n` events; `in` holds the inputs event after event (n x nInputs).
   /// The calibration (if any) is applied: this is the log r the object stands for.
   void logRatio(const double *in, std::size_t n, double *out) const;
   /// The network's own log r, before the calibration, for the same layout as logRatio().
   void networkLogRatio(const double *in, std::size_t n, double *out) const;

   /// \name Calibration
   /// A monotone or histogram calibration of the network's log r, fitted on held-out events (as
   /// carl does), and a normalisation correction: everything the object returns (evaluate, doEval,
   /// logRatio, analyticalIntegral) uses
   ///
   ///     log r_cal = g(log r_net) - logNormalization,
   ///
   /// where g interpolates linearly between the knots (in_k, out_k) and continues with slope 1
   /// beyond the first and last knot (out_0 + (l - in_0), out_n + (l - in_n)): a constant beyond
   /// the knots would give every event beyond the last held-out one the same ratio, while slope 1
   /// keeps the network's own ordering there. No knots: g is the identity, so only the
   /// normalisation applies. logNormalization = log E_ref[r] makes the calibrated ratio average 1
   /// over the reference, as the exact ratio does. Objects written before version 3 have none.
   /// @{

   /// Set the knots (strictly increasing `in`, one `out` per knot, all finite; both empty for no
   /// map) and the normalisation. Throws std::invalid_argument otherwise.
   void setCalibration(const std::vector<double> &in, const std::vector<double> &out, double logNormalization = 0.);
   const std::vector<double> &calibrationIn() const { return _calibrationIn; }
   const std::vector<double> &calibrationOut() const { return _calibrationOut; }
   double logNormalization() const { return _logNormalization; }
   bool isCalibrated() const { return !_calibrationIn.empty() || _logNormalization != 0.; }
   /// g(logr) - logNormalization for one value of the network's log r.
   double calibrate(double logr) const;
   /// @}

   /// Threads used for batches of at least 2 x 8192 events (default 1; results do not depend on it).
   static void setNumThreads(int n);
   static int numThreads();

   Int_t getAnalyticalIntegral(RooArgSet &allVars, RooArgSet &analVars, const char *rangeName = nullptr) const override;
   double analyticalIntegral(Int_t code, const char *rangeName = nullptr) const override;

protected:
   double evaluate() const override;
   void doEval(RooFit::EvalContext &ctx) const override;

private:
   /// One network input as seen by the batch loop: value of event e at data[e * stride]
   /// (stride 0 for a parameter that is the same for all events).
   struct Column {
      const double *data;
      std::size_t stride;
   };
   /// Report inputs of this call that lie outside their covered range (once per input).
   void checkTrainingRanges(const std::vector<Column> &columns, std::size_t n) const;
   double rangeSlack(std::size_t i) const;
   /// log r for events [begin, end), split over threads when there are many.
   void evalColumns(const std::vector<Column> &columns, std::size_t n, double *out) const;
   /// Columns for inputs stored event after event (n x nInputs).
   std::vector<Column> rowColumns(const double *in) const;
   /// The network alone (no calibration), as evalColumns.
   void evalNetwork(const std::vector<Column> &columns, std::size_t n, double *out) const;
   void evalRange(const std::vector<Column> &columns, std::size_t begin, std::size_t end, double *out) const;
   /// The first layer for one call: the inputs that vary per event (`columns`), their weights
   /// ([out][column]), and the biases with the constant inputs folded in.
   struct FirstLayer {
      std::vector<std::size_t> columns;
      std::vector<double> weights;
      std::vector<double> biases;
      std::vector<std::uint32_t> inputRanges;
   };
   FirstLayer firstLayer(const std::vector<Column> &columns) const;
   /// log r for a block of at most kBlock events; `in` holds the varying inputs of `first`,
   /// input-major, a row stride apart (in[k * stride + e], stride = kBlock + 8, see the .cxx).
   /// bufA and bufB hold stride x (widest layer) values each.
   void forwardBlock(const double *in, const FirstLayer &first, std::size_t n, double *out, double *bufA,
                     double *bufB) const;
   double transform(double logr) const;

   static constexpr std::size_t kBlock = 64;
   static constexpr int kMaxIntegrated = 3;
   static constexpr std::size_t kMinEventsPerThread = 8192;
   static int fgNumThreads;

   RooListProxy _inputs;                  ///< Network inputs: observables, then parameters.
   std::vector<int> _sizes;               ///< Layer widths, input first, output (1) last.
   std::vector<double> _weights;          ///< Per layer, row-major [out][in], layers concatenated.
   std::vector<double> _biases;           ///< Per layer, layers concatenated.
   std::vector<int> _activations;         ///< Activation after each dense layer.
   std::vector<double> _activationParams; ///< Parameter of each activation (slope, alpha), else 0.
   std::vector<std::uint8_t> _onnxBytes;  ///< The original ONNX model.
   int _output = kRatio;                  ///< What evaluate() returns, see Output.
   int _integrationPoints = 512;          ///< Gauss-Legendre nodes for one observable, see integrationPoints().
   std::vector<double> _trainingMin;      ///< Per input: low end of the training range (empty: unknown).
   std::vector<double> _trainingMax;      ///< Per input: high end of the training range (empty: unknown).
   std::vector<double> _trainingMargins;  ///< Per input: tolerated excess, as a fraction of the width.
   std::vector<double> _calibrationIn;    ///< Calibration knots in the network's log r (empty: no map).
   std::vector<double> _calibrationOut;   ///< Calibrated log r at the knots.
   double _logNormalization = 0.;         ///< Subtracted from the calibrated log r, see setCalibration().
   /// Per layer, per tile of rows: the inputs with non-zero weights (built on first use, not stored).
   mutable std::vector<std::vector<std::uint32_t>> _tileRanges; //!
   /// Per input: 1 once it was reported outside its training range. Shared with clones.
   std::shared_ptr<std::vector<char>> _reported = std::make_shared<std::vector<char>>(); //!

   ClassDefOverride(RooLearnedRatio, 3)
};

#endif
