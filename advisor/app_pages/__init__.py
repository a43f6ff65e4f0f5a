"""The Streamlit app's pages (``app.py`` wires them into a navigation).

Pure helpers (:mod:`.frames`, :mod:`.charts`, :mod:`.uploads`) import no Streamlit and are unit-tested;
the page modules (:mod:`.advise_page`, :mod:`.database_page`, :mod:`.catalog_page`) are thin widget
layers over the advisor, featurizer and store APIs, tested with ``streamlit.testing``.
"""
