"""Streamlit-side helpers shared by Home.py and pages/ (the only place Streamlit is imported)."""
