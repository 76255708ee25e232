"""Proxy evaluation: features of the proxy videos, the proxy scores (metrics) and measured invariance."""

from core.evaluation.metrics import METRICS, ProxyScores, proxy_scores
from core.evaluation.proxy import EvalSpec, Evaluation, ProxyData, evaluate

__all__ = ["METRICS", "EvalSpec", "Evaluation", "ProxyData", "ProxyScores", "evaluate", "proxy_scores"]
