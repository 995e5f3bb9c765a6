"""Policy loading and evaluation: which risk level and approval an action gets.

Load a policy with :func:`load_policy` (a file) or :func:`parse_policy`
(YAML text); both raise :class:`~aegis_stream.errors.PolicyError` on any
problem. Then call :meth:`Policy.evaluate` for each action, passing the
evaluation time explicitly as ``now``.
"""

from aegis_stream.policy.loader import load_policy, parse_policy
from aegis_stream.policy.model import DEFAULT_RULE, Decision, Policy, Rule

__all__ = ["DEFAULT_RULE", "Decision", "Policy", "Rule", "load_policy", "parse_policy"]
