"""Replay of fixture articles (``seeds/``) into ``articles.raw``: ``raqib replay [DIR]``."""
