# Regenerates xgboost_{binary,reg,multi,poisson,dart,forest}.bin, real XGBoost binary models for
# trees_test.go, and prints the predictions XGBoost itself makes for the
# test rows (which trees_test.go records as the reference).
#
# Made with XGBoost 1.7.4 (Debian bookworm's python3-xgboost):
#   apt-get install python3-xgboost && /usr/bin/python3 xgboost_gen.py
# The features are small integers and tree_method is hist, so split
# thresholds equal feature values: the test rows hit them exactly, which
# checks XGBoost's "x < threshold goes left" rule.
import json

import numpy as np
import xgboost as xgb

rng = np.random.default_rng(7)
X = rng.integers(0, 4, size=(200, 3)).astype(np.float32)
y_bin = ((X[:, 0] + X[:, 1] > 3) ^ (rng.random(200) < 0.1)).astype(np.float32)
y_reg = (X[:, 0] * 1.5 - X[:, 2] + rng.normal(0, 0.1, 200)).astype(np.float32)
y_mc = (X[:, 0] % 3).astype(np.float32)
y_pois = (X[:, 0] + X[:, 1] * X[:, 2]).astype(np.float32)
Xt = np.array([[0, 0, 0], [1, 2, 3], [3, 3, 0], [2, 1, 1], [1, 1, 2],
               [np.nan, 2, 1], [3, 0, np.nan], [2.5, 1.5, 0.5]], dtype=np.float32)
out = {}
for name, params, y, rounds in [
    ("binary", {"objective": "binary:logistic", "max_depth": 2, "eta": 0.5, "tree_method": "hist"}, y_bin, 3),
    ("reg", {"objective": "reg:squarederror", "max_depth": 2, "eta": 0.5, "tree_method": "hist", "base_score": 0.25}, y_reg, 2),
    ("multi", {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "eta": 0.5, "tree_method": "hist"}, y_mc, 2),
    ("poisson", {"objective": "count:poisson", "max_depth": 2, "eta": 0.5, "tree_method": "hist"}, y_pois, 3),
    ("dart", {"booster": "dart", "objective": "binary:logistic", "max_depth": 2, "eta": 0.5, "tree_method": "hist",
              "rate_drop": 0.5, "skip_drop": 0, "seed": 3}, y_bin, 4),
    ("forest", {"objective": "binary:logistic", "max_depth": 2, "eta": 1, "tree_method": "hist", "num_parallel_tree": 3,
                "subsample": 0.8, "colsample_bynode": 0.8, "seed": 3}, y_bin, 2),
]:
    b = xgb.train(params, xgb.DMatrix(X, label=y), rounds)
    b.save_model(f"xgboost_{name}.bin")
    out[name] = b.predict(xgb.DMatrix(Xt)).tolist()
print(json.dumps(out, indent=1))
