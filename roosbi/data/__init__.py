"""The data stage: problems, simulation with its gold, and samples and observed data from outside RooFit.

- :mod:`~roosbi.data.problems`: :class:`~roosbi.data.problems.Problem`, a workspace plus the names
  that say what to learn in it, and ``make_problem``; :mod:`~roosbi.data.builtin`: the built-in
  problems (rf615, rf617, rf618, smeared, resonance) and ``PROBLEMS``; :mod:`~roosbi.data.eft`: a
  quadratic EFT given as weighted terms.
- :mod:`~roosbi.data.simulate`: labelled training samples from a problem (target, reference,
  prior); :mod:`~roosbi.data.gold`: the joint log ratio and joint score of latent-variable
  problems; :mod:`~roosbi.data.terms`: samples at any parameter point from weighted terms.
- :mod:`~roosbi.data.sample`: ``TrainingSample`` and ``ScoreSample``, what the estimators train on.
- :mod:`~roosbi.data.samples`: training samples from arrays, DataFrames, TTrees and RNTuples;
  :mod:`~roosbi.data.sample_files`: samples in ROOT files; :mod:`~roosbi.data.observed`: observed
  data as a ``RooDataSet``; :mod:`~roosbi.data.columns`: the column reading and checks they share.

The public names are re-exported by :mod:`roosbi`; this package itself imports nothing.
"""
