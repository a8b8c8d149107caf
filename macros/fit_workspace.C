// Fit every NLL that roosbi recorded in a workspace file, with no Python.
//
//   root -b -q 'macros/fit_workspace.C("roosbi-demo/workspace.root")'
//
// prints one line per NLL:  FIT <name> <param>=<value> +- <error> status=<n>
//
// The learned pdf needs roosbi's library (class RooLearnedRatio). It is looked for, in order:
//   1. the second argument of this macro,
//   2. the environment variable ROOSBI_LIBRARY,
//   3. libRooSBI.so beside the workspace file (roosbi demo copies it there),
//   4. libRooSBI on the dynamic library path (LD_LIBRARY_PATH).
// `roosbi library` builds the library if needed and prints its path.
//
// The fits use the same settings as roosbi's Python side (roosbi/inference.py): Minuit2, error
// level 0.5, strategy 1, MIGRAD + HESSE + MINOS, every parameter started at the middle of its range.
// Each pdf is fitted to the dataset named by its string attribute roosbi_data if it has one (the
// score template fit of a mixture), otherwise to the observed dataset; extendable pdfs (mixtures)
// get the extended NLL.

#include <RooAbsData.h>
#include <RooAbsPdf.h>
#include <RooAbsReal.h>
#include <RooArgSet.h>
#include <RooFit/Config.h>
#include <RooGlobalFunc.h>
#include <RooMinimizer.h>
#include <RooMsgService.h>
#include <RooRealVar.h>
#include <RooWorkspace.h>
#include <TFile.h>
#include <TNamed.h>
#include <TString.h>
#include <TSystem.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

bool loadRoosbiLibrary(const char *fileName, const char *library)
{
   TString lib = library ? library : "";
   if (lib.IsNull() && gSystem->Getenv("ROOSBI_LIBRARY")) {
      lib = gSystem->Getenv("ROOSBI_LIBRARY");
   }
   if (lib.IsNull()) {
      TString besideFile = TString(gSystem->GetDirName(fileName)) + "/libRooSBI.so";
      if (!gSystem->AccessPathName(besideFile)) {
         lib = besideFile;
      }
   }
   if (lib.IsNull()) {
      lib = "libRooSBI";
   }
   if (gSystem->Load(lib) < 0) {
      std::printf("ERROR cannot load the roosbi library '%s'; run `roosbi library` and pass its path as the second "
                  "argument or in ROOSBI_LIBRARY\n",
                  lib.Data());
      return false;
   }
   return true;
}

RooWorkspace *findWorkspace(TFile &file)
{
   for (TObject *key : *file.GetListOfKeys()) {
      if (auto *ws = dynamic_cast<RooWorkspace *>(file.Get(key->GetName()))) {
         return ws;
      }
   }
   return nullptr;
}

} // namespace

int fit_workspace(const char *fileName = "roosbi-demo/workspace.root", const char *library = "")
{
   RooMsgService::instance().setGlobalKillBelow(RooFit::WARNING);
   // RooMomentMorphFuncND evaluates unused non-linear terms (0 * inf) when set up; count, do not print.
   RooAbsReal::setEvalErrorLoggingMode(RooAbsReal::CountErrors);
   if (gSystem->AccessPathName(fileName)) {
      std::printf("ERROR no such file: %s\n", fileName);
      return 1;
   }
   if (!loadRoosbiLibrary(fileName, library)) {
      return 1;
   }
   std::unique_ptr<TFile> file{TFile::Open(fileName)};
   if (!file || file->IsZombie()) {
      std::printf("ERROR cannot open %s\n", fileName);
      return 1;
   }
   RooWorkspace *ws = findWorkspace(*file);
   if (!ws) {
      std::printf("ERROR no RooWorkspace in %s\n", fileName);
      return 1;
   }
   auto *dataName = dynamic_cast<TNamed *>(ws->genobj("roosbi_observed_data"));
   const RooArgSet *params = ws->set("roosbi_parameters");
   if (!dataName || !params || !ws->data(dataName->GetTitle())) {
      std::printf("ERROR %s does not say what to fit (no roosbi_observed_data / roosbi_parameters); mark it in "
                  "Python with roosbi.mark_fits(ws, {\"learned\": pdf}, data, [\"mu\"]) before writing it\n",
                  fileName);
      return 1;
   }

   // Pdfs to fit carry the string attribute roosbi_nll = <name>; fit them in a fixed order.
   std::map<std::string, RooAbsPdf *> pdfs;
   for (RooAbsArg *arg : ws->allPdfs()) {
      if (const char *name = arg->getStringAttribute("roosbi_nll")) {
         pdfs[name] = static_cast<RooAbsPdf *>(arg);
      }
   }
   // roosbi's own names first, in a fixed order, then any other marked pdf by name.
   std::vector<std::string> order;
   for (const char *name : {"analytic", "learned", "morphed", "template"}) {
      if (pdfs.count(name)) {
         order.push_back(name);
      }
   }
   for (const auto &entry : pdfs) {
      if (std::find(order.begin(), order.end(), entry.first) == order.end()) {
         order.push_back(entry.first);
      }
   }
   if (order.empty()) {
      std::printf("ERROR no pdf in %s is marked to be fitted (string attribute roosbi_nll); use roosbi.mark_fits\n",
                  fileName);
      return 1;
   }
   int failures = 0;
   for (const std::string &nameString : order) {
      const char *name = nameString.c_str();
      auto found = pdfs.find(nameString);
      for (RooAbsArg *p : *params) {
         auto *par = static_cast<RooRealVar *>(p);
         par->setVal(0.5 * (par->getMin() + par->getMax()));
         par->setError(0.1 * (par->getMax() - par->getMin()));
      }
      RooAbsPdf &pdf = *found->second;
      const char *ownData = pdf.getStringAttribute("roosbi_data");
      RooAbsData *data = ws->data(ownData ? ownData : dataName->GetTitle());
      if (!data) {
         std::printf("ERROR no dataset named '%s' for the %s NLL\n", ownData, name);
         ++failures;
         continue;
      }
      // roosbi marks pdfs that need RooFit's legacy evaluation backend (N-D morphing).
      const char *backend = pdf.getStringAttribute("roosbi_backend");
      // Explicit, as RooFit's default may only extend pdfs that must be extended (RooExtendPdf can).
      std::unique_ptr<RooAbsReal> nll{pdf.createNLL(*data, RooFit::Offset("none"),
                                                    RooFit::Extended(pdf.canBeExtended()),
                                                    RooFit::EvalBackend(backend ? backend : "cpu"))};
      RooMinimizer minimizer(*nll);
      // As roosbi/demo.py: RooMomentMorphFuncND reports harmless evaluation errors (its unused
      // non-linear terms) whenever the parameters move; they must not steer MIGRAD.
      // Marked by roosbi (attribute roosbi_eval_errors = "expected"): every moment morph, also
      // SALLY's template fit; older workspaces: the fit called "morphed".
      const char *evalErrors = pdf.getStringAttribute("roosbi_eval_errors");
      const bool morphed = nameString == "morphed" || (evalErrors && std::string(evalErrors) == "expected");
      minimizer.setEvalErrorWall(!morphed);
      minimizer.setPrintEvalErrors(morphed ? -1 : 10);
      minimizer.setMinimizerType("Minuit2");
      minimizer.setErrorLevel(0.5);
      minimizer.setStrategy(1);
      minimizer.setEps(0.01); // as roosbi/inference.py: EDM 100x below Minuit's default target
      minimizer.setPrintLevel(-1);
      const int status = minimizer.migrad();
      minimizer.hesse();
      minimizer.minos(*params);
      std::string line = std::string("FIT ") + name;
      for (RooAbsArg *p : *params) {
         auto *par = static_cast<RooRealVar *>(p);
         line += Form(" %s=%.6g +- %.6g", par->GetName(), par->getVal(), par->getError());
      }
      std::printf("%s status=%d\n", line.c_str(), status);
      // As roosbi/inference.py: a minimum on a parameter's limit is not an interior minimum, and
      // its HESSE error does not describe the likelihood there (Minuit's status does not say so).
      for (RooAbsArg *p : *params) {
         auto *par = static_cast<RooRealVar *>(p);
         const double tolerance = 1e-5 * (par->getMax() - par->getMin());
         if (par->getVal() - par->getMin() < tolerance || par->getMax() - par->getVal() < tolerance) {
            std::printf("WARNING %s %s=%.6g is at its limit [%.6g, %.6g]\n", name, par->GetName(), par->getVal(),
                        par->getMin(), par->getMax());
         }
      }
      failures += status != 0;
   }
   return failures;
}
