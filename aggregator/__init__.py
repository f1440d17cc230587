"""aggregator: feeds.yaml in, trustworthy topic feeds out."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/aggregator-dev/aggregator"
