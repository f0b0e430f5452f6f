"""Reading inputs: files, feeds, sitemaps and pages -> parsed article dicts and rejects."""
