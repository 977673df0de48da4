"""Audit any page's TikTok pixel in headless Chromium: the calls it makes, and what is wrong."""

from .findings import Evidence as Evidence
from .findings import Finding as Finding
from .findings import PageFacts as PageFacts
from .findings import ScriptError as ScriptError
from .findings import StepReport as StepReport
from .findings import Truncation as Truncation
from .findings import find_problems as find_problems
from .runner import AuditFailed as AuditFailed
from .runner import AuditResult as AuditResult
from .runner import Step as Step
from .runner import audit as audit
from .runner import gather_evidence as gather_evidence
from .runner import launch_browser as launch_browser

__all__ = [
    "AuditFailed",
    "AuditResult",
    "Evidence",
    "Finding",
    "PageFacts",
    "ScriptError",
    "Step",
    "StepReport",
    "Truncation",
    "audit",
    "find_problems",
    "gather_evidence",
    "launch_browser",
]
