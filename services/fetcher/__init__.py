"""The fetcher: polls RSS/Atom feeds and publishes new articles to ``articles.raw``."""
