"""Service layer: all SQL and all provider calls. Never imports Streamlit."""
