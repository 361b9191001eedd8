#!/usr/bin/python3
"""Checks of bench/scaling_model.py's arithmetic (not of its accuracy: that is
the check table in bench/README.md, against measurements)."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import scaling_model as sm  # noqa: E402

MODELS = ["fashion_mlp", "mlp1024", "fashion_cnn"]
NODES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
RANKS = [1, 2, 4, 8, 16, 32, 64]


class ScalingModel(unittest.TestCase):
    p = sm.DEFAULTS

    def test_gradient_sizes_are_the_models_trainable_parameters(self):
        # trainer summary: fashion_mlp 235,530; fashion_cnn 421,866; mlp1024 1.87 M
        self.assertEqual(sm.gradient_floats("fashion_mlp"), 235530)
        self.assertEqual(sm.gradient_floats("fashion_cnn"), 421866)
        self.assertEqual(sm.gradient_floats("mlp1024"), 1865738)

    def test_one_rank_is_compute_plus_optimizer(self):
        for m in MODELS:
            self.assertAlmostEqual(sm.step_ms(self.p, m, 1, 1), self.p["models"][m]["step_ms"])
            self.assertAlmostEqual(sm.efficiency(self.p, m, 1, 1), 1.0)

    def test_buckets_cover_the_arena_from_its_end(self):
        b = sm.buckets("mlp1024", 10.0, 4.0)
        self.assertEqual(sum(g for g, _ in b), 4 * 1865738)
        self.assertEqual(b[0][0], 4 * sm.MiB)
        self.assertLessEqual(b[0][1], b[1][1])  # the tail (last layers) is ready first
        self.assertAlmostEqual(b[-1][1], 10.0)   # the first layer's gradient comes last

    def test_efficiency_falls_with_more_nodes(self):
        for m in MODELS:
            for r in RANKS:
                effs = [sm.efficiency(self.p, m, n, r, beta_net=sm.link_beta(self.p, 25)) for n in NODES]
                # above 1 only by what sharding the optimizer saves
                m_ = self.p["models"][m]
                self.assertTrue(all(e <= m_["step_ms"] / (m_["step_ms"] - m_["optimizer_ms"]) for e in effs))
                for a, b in zip(effs, effs[1:]):
                    self.assertGreaterEqual(a + 1e-12, b, f"{m}, {r} ranks per node: {effs}")

    def test_a_faster_network_never_hurts(self):
        for m in MODELS:
            for n in NODES[1:]:
                slow = sm.efficiency(self.p, m, n, 8, beta_net=sm.link_beta(self.p, 10))
                fast = sm.efficiency(self.p, m, n, 8, beta_net=sm.link_beta(self.p, 100))
                self.assertGreaterEqual(fast, slow)

    def test_without_overlap_the_step_is_compute_plus_every_bucket(self):
        m = "mlp1024"
        with_overlap = sm.step_ms(self.p, m, 4, 2)
        without = sm.step_ms(self.p, m, 4, 2, overlap=False)
        self.assertGreater(without, with_overlap)

    def test_fit_recovers_alpha_and_beta(self):
        alpha, beta = 0.3, 2.0  # ms, ms per MiB
        with tempfile.TemporaryDirectory() as d:
            def write(name, rows):
                with open(os.path.join(d, name), "w") as f:
                    f.writelines(json.dumps(r) + "\n" for r in rows)
            write("session.json", [{"date": "t", "cores": 2, "rate": "10gbit", "per_rank_batch": 128}])
            write("compute.jsonl", [{"model": "fashion_mlp", "ms_per_step": 1.0, "optimizer_ms": 0.1,
                                     "params": 235530}])
            write("intra.jsonl", [{"mb": mb, "lockstep_ms": 0.01 + 0.1 * mb} for mb in (1, 16)])
            write("inter.jsonl", [{"layout": "1+1", "rate": "10gbit", "mb": mb,
                                   "lockstep_ms": 3 * alpha + (min(1, mb) + 1.5 * mb) * beta} for mb in (1, 16)])
            write("steps.jsonl", [{"model": "fashion_mlp", "layout": "2+2", "ms_per_step": x} for x in (3, 1, 2)])
            p = sm.fit(d)
        self.assertAlmostEqual(p["inter"]["alpha_ms"], alpha)
        self.assertAlmostEqual(p["inter"]["beta_ms_per_mib"], beta)
        self.assertAlmostEqual(p["intra"]["alpha_ms"], 0.01)
        self.assertAlmostEqual(p["intra"]["beta_ms_per_mib"], 0.1)
        self.assertEqual(p["measured_steps"][0]["ms"], 2)


if __name__ == "__main__":
    unittest.main()
