"""Heavy objects the app loads once per process (``st.cache_resource``): the advisor and the store."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:  # pragma: no cover
    from advisor.api import Advisor
    from training_runs.store import Store


@st.cache_resource(show_spinner="Loading the advisor…")
def _advisor(path: str | None) -> "Advisor":
    from advisor.api import Advisor

    return Advisor.load(path)


def get_advisor() -> "Advisor":
    """The shipped predictor (or ``ADVISOR_MODEL_DIR``), loaded once per process."""
    return _advisor(os.environ.get("ADVISOR_MODEL_DIR"))


@st.cache_resource(show_spinner="Opening the results database…")
def _store(url: str | None) -> "Store":
    from training_runs.store import Store

    return Store.open(url)


def get_store() -> "Store":
    """The results database named by ``ADVISOR_DB_URL`` (else the embedded file), opened once per URL."""
    return _store(os.environ.get("ADVISOR_DB_URL"))
