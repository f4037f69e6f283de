"""The Streamlit builder console (``tideflow up`` serves it). It talks to the API only, never to
the database or Temporal: every page calls ``tideflow.console.api_client``.

``streamlit run tideflow/console/app.py``; ``TIDEFLOW_API_URL`` says where the API is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from tideflow.console.api_client import ACCOUNT_KEY, TOKEN_KEY
from tideflow.console.common import PAGES_KEY, signed_out

# name -> (module under tideflow.console.pages, title, icon, section)
PAGES: dict[str, tuple[str, str, str, str]] = {
    "home": ("home", "Home", ":material/home:", "Build"),
    "apps": ("apps", "Apps", ":material/apps:", "Build"),
    "editor": ("editor", "Editor", ":material/account_tree:", "Build"),
    "runs": ("runs", "Runs", ":material/history:", "Operate"),
    "inbox": ("inbox", "Inbox", ":material/inbox:", "Operate"),
    "charts": ("charts", "Charts", ":material/monitoring:", "Operate"),
    "knowledge": ("knowledge", "Knowledge", ":material/library_books:", "Knowledge"),
    "settings": ("settings", "Settings", ":material/settings:", "Settings"),
}


def _render(module: str) -> Callable[[], None]:
    def render() -> None:
        page: Any = importlib.import_module(f"tideflow.console.pages.{module}")
        page.render()

    render.__name__ = f"render_{module}"
    return render


def main() -> None:
    """Sign in first; then the pages, grouped by section."""
    st.set_page_config(page_title="Tideflow", layout="wide")
    if not st.session_state.get(TOKEN_KEY):
        st.navigation([st.Page(_render("signin"), title="Sign in", url_path="signin")]).run()
        return
    pages = {
        name: st.Page(
            _render(module), title=title, icon=icon, url_path=name, default=name == "home"
        )
        for name, (module, title, icon, _section) in PAGES.items()
    }
    st.session_state[PAGES_KEY] = pages
    sections: dict[str, list[Any]] = {}
    for name, (_module, _title, _icon, section) in PAGES.items():
        sections.setdefault(section, []).append(pages[name])
    with st.sidebar:
        st.caption(f"Signed in as {st.session_state.get(ACCOUNT_KEY, '')}")
        if st.button("Sign out"):
            signed_out()
    st.navigation(sections).run()


main()
