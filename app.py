"""The Streamlit advisor (``make app``): a thin navigation over the pages in ``app_pages/``.

Each page script calls one ``render()`` from :mod:`advisor.app_pages`, which goes through the
advisor, featurizer and store APIs only.
"""
import streamlit as st

st.set_page_config(page_title="Fine-tuning advisor", page_icon=":material/tune:", layout="wide")

pages = [
    st.Page("app_pages/advise.py", title="Advisor", icon=":material/insights:", default=True),
    st.Page("app_pages/database.py", title="Results database", icon=":material/table_chart:"),
    st.Page("app_pages/score_catalog.py", title="Score a catalog", icon=":material/list_alt:"),
]
st.navigation(pages).run()
