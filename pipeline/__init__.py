"""newsbeam's command line and pipeline graph."""
