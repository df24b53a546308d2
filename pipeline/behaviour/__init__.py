"""Behavioural tests of a trained model (CheckList, Ribeiro et al. 2020): the cases in cases.yaml and their runner."""

from pipeline.behaviour.suite import CASES_FILE, TESTS, Cases, Report, load_cases, run_suite

__all__ = ["CASES_FILE", "TESTS", "Cases", "Report", "load_cases", "run_suite"]
