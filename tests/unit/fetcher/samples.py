"""Small Arabic feeds in each format the fetcher reads, as the bytes a server would send."""

from __future__ import annotations

RSS_ITEMS = [
    {
        "title": "اشتباكات في طرابلس بين قوة الردع ومجموعة مسلحة",
        "link": "https://news.example.ly/ar/libya/2025/03/clashes/?utm_source=rss&utm_medium=feed",
        "description": (
            "<p>اندلعت <b>اشتباكات</b> قرب مطار معيتيقة.</p><p>وأعلنت قوة الردع السيطرة.</p>"
        ),
        "pub_date": "Mon, 03 Mar 2025 10:00:00 +0200",
        "guid": "clashes-1",
    },
    {
        "title": "باشاغا يلتقي وفداً تركياً",
        "link": "https://news.example.ly/ar/politics/bashagha-turkey/amp",
        "description": "التقى فتحي باشاغا وفداً من تركيا في مصراتة &amp; بحث الأوضاع.",
        "pub_date": "Tue, 04 Mar 2025 08:30:00 GMT",
        "guid": "bashagha-2",
    },
]


def rss_feed(items: list[dict[str, str]] = RSS_ITEMS, *, encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 document whose XML declaration names ``encoding``, encoded in it."""
    body = "".join(
        "<item>"
        f"<title>{item['title']}</title>"
        f"<link>{item['link'].replace('&', '&amp;')}</link>"
        f"<description><![CDATA[{item['description']}]]></description>"
        f"<pubDate>{item['pub_date']}</pubDate>"
        f'<guid isPermaLink="false">{item["guid"]}</guid>'
        "</item>"
        for item in items
    )
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0"><channel>'
        "<title>أخبار ليبيا</title><link>https://news.example.ly/</link>"
        "<description>آخر الأخبار</description><language>ar</language>"
        f"{body}</channel></rss>"
    )
    return document.encode(encoding)


ATOM_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">
  <title>وكالة الأنباء</title>
  <id>urn:example:agency</id>
  <updated>2025-03-05T09:00:00Z</updated>
  <entry>
    <title type="html">صدام حفتر يزور &lt;b&gt;القاهرة&lt;/b&gt;</title>
    <link rel="alternate" href="/ar/news/saddam-cairo"/>
    <id>urn:example:agency:1</id>
    <published>2025-03-05T08:00:00+02:00</published>
    <updated>2025-03-05T09:00:00Z</updated>
    <summary>ملخص قصير</summary>
    <content type="html">&lt;p&gt;وصل صدام حفتر إلى القاهرة.&lt;/p&gt;
      &lt;script&gt;track()&lt;/script&gt;&lt;p&gt;والتقى مسؤولين مصريين.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>بيان المحكمة الجنائية الدولية</title>
    <link rel="alternate" href="https://agency.example.org/ar/news/icc-statement?fbclid=XYZ"/>
    <id>urn:example:agency:2</id>
    <updated>2025-03-05T07:00:00Z</updated>
    <summary type="text">أصدرت المحكمة الجنائية الدولية بياناً بشأن أسامة المصري.</summary>
  </entry>
</feed>
""".encode()

RDF_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rdf.example.ly/">
    <title>نشرة</title><link>https://rdf.example.ly/</link><description>نشرة الأخبار</description>
  </channel>
  <item rdf:about="https://rdf.example.ly/news/sirte">
    <title>هدوء حذر في سرت</title>
    <link>https://rdf.example.ly/news/sirte</link>
    <description>عاد الهدوء إلى مدينة سرت بعد أيام من التوتر.</description>
    <dc:date>2025-03-02T12:00:00+02:00</dc:date>
  </item>
</rdf:RDF>
""".encode()
