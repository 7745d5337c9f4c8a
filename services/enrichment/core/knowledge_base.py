"""The knowledge base: actors with their aliases, context rules and topics, read from YAML.

Everything is normalised once here, at load time, with the same normaliser as the articles;
the tagger then only compares normalised strings. A malformed file raises ``ConfigError``
naming the file and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from schemas import EntityType, Labels
from services.common.arabic import has_arabic_letter, normalize_arabic, with_clitics
from services.common.errors import ConfigError

__all__ = [
    "Actor",
    "Alias",
    "Clause",
    "ContextRule",
    "KnowledgeBase",
    "Surname",
    "TopicDefinition",
    "TopicScoring",
    "TopicTerm",
    "WordSet",
    "load_knowledge_base",
    "parse_knowledge_base",
]

_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_NON_ALNUM = re.compile(r"[\W_]+")
_PACKAGED = "knowledge_base.yaml"

# The actor ids docs/design.md requires ("Actor ids"): every knowledge base must hold them, and an
# evaluation file with `label_set: design` is labelled against them.
DESIGN_ACTOR_IDS = frozenset(
    {
        "special-deterrence-force",
        "abdul-raouf-kara",
        "fathi-bashagha",
        "khalifa-haftar",
        "saddam-haftar",
        "khaled-haftar",
        "belgasem-haftar",
        "fayez-al-sarraj",
        "abdul-hamid-dbeibah",
        "abdulsalam-zoubi",
        "osama-al-masri",
        "ahmed-maiteeq",
        "ahmed-al-mismari",
        "abdel-fattah-el-sisi",
        "libyan-national-army",
        "government-of-national-accord",
        "government-of-national-unity",
        "isis",
        "mitiga-airport",
        "benina-airbase",
        "tripoli",
        "benghazi",
        "misrata",
        "sirte",
        "turkey",
        "russia",
        "egypt",
        "italy",
        "qatar",
        "united-states",
        "united-kingdom",
        "france",
        "syria",
        "international-criminal-court",
    }
)

# The topic ids docs/design.md requires ("Topic ids").
DESIGN_TOPIC_IDS = frozenset(
    {
        "foreign-fighters",
        "foreign-military-support",
        "armed-clashes",
        "mediation",
        "terrorism",
        "detention-and-justice",
        "intelligence",
        "airports-and-aviation",
        "politics-and-governance",
    }
)


# The rule that decides a bare surname of each category in an actor's ``surnames``.
SURNAME_RULES = {"distinctive": "distinctive-surname", "common": "common-surname"}


@dataclass(frozen=True, slots=True)
class WordSet:
    """Normalised context words (matched with any clitic in front) and phrases (as text)."""

    words: frozenset[str] = frozenset()
    phrases: tuple[str, ...] = ()
    forms: frozenset[str] = frozenset()  # the words with every clitic: see with_clitics
    # Derived: the first word of every phrase (a window without one holds no phrase), and the
    # phrases padded with spaces as they are searched for in a window's text.
    phrase_heads: frozenset[str] = field(init=False)
    padded_phrases: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        heads = frozenset(phrase.split(" ", 1)[0] for phrase in self.phrases)
        object.__setattr__(self, "phrase_heads", heads)
        object.__setattr__(self, "padded_phrases", tuple(f" {p} " for p in self.phrases))

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)


@dataclass(frozen=True, slots=True)
class Clause:
    """A conjunction of conditions; ``name`` names the reason in the mention's rule."""

    name: str
    before: WordSet | None = None
    before_window: int = 2
    after: WordSet | None = None
    after_window: int = 2
    near: WordSet | None = None
    near_window: int = 10
    not_near: WordSet | None = None
    not_near_window: int = 10
    prefix: frozenset[str] | None = None
    clause_start: bool | None = None
    previous_word_definite: bool | None = None
    tanwin: bool | None = None
    hashtag: bool | None = None
    after_pattern: re.Pattern[str] | None = None
    previous_word_pattern: re.Pattern[str] | None = None
    written: re.Pattern[str] | None = None
    previous_word_written: re.Pattern[str] | None = None
    article_mentions: frozenset[str] = frozenset()
    also_article_mentions: frozenset[str] = frozenset()
    # Derived once here: clauses are evaluated for most mentions of every article.
    needs_article: bool = field(init=False)

    def __post_init__(self) -> None:
        needs = bool(self.article_mentions or self.also_article_mentions)
        object.__setattr__(self, "needs_article", needs)


@dataclass(frozen=True, slots=True)
class Surname:
    """A family name shared by several actors."""

    members: tuple[str, ...]
    default: str
    parent_before: WordSet
    parent_after: WordSet


@dataclass(frozen=True, slots=True)
class ContextRule:
    id: str
    description: str
    reject: tuple[Clause, ...] = ()
    accept: tuple[Clause, ...] = ()
    surname: Surname | None = None
    # Whether a rejection, or the whole decision, depends on the rest of the article.
    decided_by_article: bool = field(init=False)
    can_accept_by_article: bool = field(init=False)

    def __post_init__(self) -> None:
        decided = self.surname is not None or any(c.needs_article for c in self.reject)
        object.__setattr__(self, "decided_by_article", decided)
        object.__setattr__(self, "can_accept_by_article", any(c.needs_article for c in self.accept))


@dataclass(frozen=True, slots=True)
class Alias:
    text: str  # as written in the knowledge base
    normalized: str
    actor_id: str
    rule: ContextRule | None
    case_sensitive: bool = False
    prefixes: frozenset[str] | None = None  # None: the default clitics for the alias' script
    is_arabic: bool = True
    compact: str = ""  # letters and digits only, for case-sensitive acronyms


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    type: EntityType
    name: str
    aliases: tuple[Alias, ...]


@dataclass(frozen=True, slots=True)
class TopicTerm:
    text: str
    normalized: str
    topic_id: str
    weight: int
    case_sensitive: bool = False
    is_arabic: bool = True
    compact: str = ""
    # A term of a group counts only beside a term of the topic outside its group ("Turkish"
    # beside "frigate"); a term of the group ``not`` cancels the topic's terms around it
    # ("derby" around "ceasefire"). See ``topics.decide_topics``.
    group: str = ""


@dataclass(frozen=True, slots=True)
class TopicDefinition:
    id: str
    name: str
    min_score: int
    terms: tuple[TopicTerm, ...]
    labels: Labels | None = None  # what analysts read, in Arabic and English


@dataclass(frozen=True, slots=True)
class TopicScoring:
    """How an article's topics are chosen from its term matches (``topic_scoring`` in the file;
    see ``topics.decide_topics``): a topic must be what the article is about, not a word it
    contains once, so the threshold grows with the text's length and only the leading topics
    are kept."""

    title_weight: float = 3.0  # a term in the title counts this many times
    lead_weight: float = 2.0  # a term in the lead (the text's first ``lead_words`` words)
    lead_words: int = 60
    # Past this many words of text, the threshold grows with the square root of the length.
    reference_words: int = 120
    max_topics: int = 3
    min_share: float = 0.35  # of the best topic's score


@dataclass(eq=False)
class KnowledgeBase:
    """Actors, rules and topics: data only. The tagger builds its matcher (a trie of their
    words) from it, once per knowledge base (``matcher.matcher_for``)."""

    version: str
    actors: dict[str, Actor]
    rules: dict[str, ContextRule]
    topics: dict[str, TopicDefinition]
    # Actor type -> what analysts read for it (``actor_types`` in the file).
    type_labels: dict[EntityType, Labels] = field(default_factory=dict)
    topic_scoring: TopicScoring = field(default_factory=TopicScoring)

    @property
    def alias_count(self) -> int:
        return sum(len(actor.aliases) for actor in self.actors.values())


def load_knowledge_base(path: Path | None = None) -> KnowledgeBase:
    """Read a knowledge base file; ``None`` reads the one shipped with the package."""
    if path is None:
        source = resources.files("services.enrichment").joinpath(_PACKAGED)
        data, name = source.read_bytes(), _PACKAGED
    else:
        try:
            data, name = Path(path).read_bytes(), str(path)
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the knowledge base: {error}") from error
    return parse_knowledge_base(data, source=name)


def parse_knowledge_base(data: bytes | str, *, source: str = "<knowledge base>") -> KnowledgeBase:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        document = yaml.load(raw, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    digest = hashlib.sha256(raw).hexdigest()[:8]
    return build_knowledge_base(document, source=source, digest=digest)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key written twice in one mapping (two actors with one id
    would otherwise silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def build_knowledge_base(
    document: Any, *, source: str = "<knowledge base>", digest: str | None = None
) -> KnowledgeBase:
    """Validate a parsed document (a mapping as in the YAML file) into a KnowledgeBase."""
    return _Builder(source).build(document, digest)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a mapping")
        return value

    def listing(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, "expected a list")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(where, "expected a string")
        return str(value)

    def normalized(self, value: Any, where: str) -> str:
        normal = normalize_arabic(self.text(value, where))
        if not normal:
            raise self.fail(where, f"{value!r} is empty once normalised")
        return normal

    def build(self, document: Any, digest: str | None) -> KnowledgeBase:
        root = self.mapping(document, "top level")
        version = self.text(root.get("version"), "version")
        if digest is None:
            digest = hashlib.sha256(repr(document).encode("utf-8")).hexdigest()[:8]
        actors_raw = self.mapping(root.get("actors"), "actors")
        actor_ids = set(actors_raw)
        for actor_id in actor_ids:
            if not isinstance(actor_id, str) or not _SLUG.match(actor_id):
                raise self.fail(f"actors.{actor_id}", "ids are lowercase slugs like 'a-b-c'")
        rules_raw = self.mapping(root.get("context_rules", {}), "context_rules")
        rules = {
            rule_id: self.rule(rule_id, spec, actor_ids) for rule_id, spec in rules_raw.items()
        }
        actors = {
            actor_id: self.actor(actor_id, spec, rules) for actor_id, spec in actors_raw.items()
        }
        topics = {
            topic_id: self.topic(topic_id, spec)
            for topic_id, spec in self.mapping(root.get("topics", {}), "topics").items()
        }
        self.check_shared_aliases(actors)
        type_labels = {}
        for type_name, spec in self.mapping(root.get("actor_types", {}), "actor_types").items():
            where = f"actor_types.{type_name}"
            try:
                entity_type = EntityType(type_name)
            except ValueError as error:
                allowed = ", ".join(t.value for t in EntityType)
                raise self.fail(where, f"{type_name!r} is not one of {allowed}") from error
            type_labels[entity_type] = self.labels(spec, where)
        return KnowledgeBase(
            version=f"{version}+{digest}",
            actors=actors,
            rules=rules,
            topics=topics,
            type_labels=type_labels,
            topic_scoring=self.topic_scoring(root.get("topic_scoring")),
        )

    def topic_scoring(self, value: Any) -> TopicScoring:
        """``topic_scoring``: every field optional, positive; ``min_share`` at most 1."""
        if value is None:
            return TopicScoring()
        spec = self.mapping(value, "topic_scoring")
        defaults = TopicScoring()
        extra = sorted(set(spec) - set(TopicScoring.__dataclass_fields__))
        if extra:
            raise self.fail("topic_scoring", f"unknown keys {extra}")
        numbers: dict[str, float] = {}
        for key in ("title_weight", "lead_weight", "min_share"):
            number = spec.get(key, getattr(defaults, key))
            if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
                raise self.fail(f"topic_scoring.{key}", "expected a positive number")
            numbers[key] = float(number)
        if numbers["min_share"] > 1:
            raise self.fail("topic_scoring.min_share", "expected a share of at most 1")
        counts: dict[str, int] = {}
        for key in ("lead_words", "reference_words", "max_topics"):
            count = spec.get(key, getattr(defaults, key))
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise self.fail(f"topic_scoring.{key}", "expected a positive whole number")
            counts[key] = count
        return TopicScoring(
            title_weight=numbers["title_weight"],
            lead_weight=numbers["lead_weight"],
            lead_words=counts["lead_words"],
            reference_words=counts["reference_words"],
            max_topics=counts["max_topics"],
            min_share=numbers["min_share"],
        )

    def labels(self, spec: Any, where: str) -> Labels:
        """``{ar: ..., en: ...}``: both languages, non-empty."""
        spec = self.mapping(spec, where)
        return Labels(
            ar=self.text(spec.get("ar"), f"{where}.ar"), en=self.text(spec.get("en"), f"{where}.en")
        )

    def check_shared_aliases(self, actors: dict[str, Actor]) -> None:
        """An alias two actors claim needs a context rule to decide between them: at most one
        of the claims may be unconditional."""
        claims: dict[str, list[Alias]] = {}
        for actor in actors.values():
            for alias in actor.aliases:
                claims.setdefault(alias.normalized, []).append(alias)
        for normalized, aliases in claims.items():
            unconditional = [a.actor_id for a in aliases if a.rule is None]
            if len(aliases) > 1 and len(unconditional) > 1:
                raise self.fail(
                    "actors",
                    f"alias {normalized!r} is claimed by {sorted(unconditional)} with no "
                    "context rule to decide between them",
                )

    def words(self, value: Any, where: str) -> WordSet:
        words: set[str] = set()
        phrases: list[str] = []
        for index, item in enumerate(self.listing(value, where)):
            normal = self.normalized(item, f"{where}[{index}]")
            if " " in normal:
                phrases.append(normal)
            else:
                words.add(normal)
        return WordSet(frozenset(words), tuple(phrases), with_clitics(frozenset(words)))

    def ids(self, value: Any, where: str, actor_ids: set[str]) -> frozenset[str]:
        ids = frozenset(self.text(v, where) for v in self.listing(value, where))
        unknown = sorted(ids - actor_ids)
        if unknown:
            raise self.fail(where, f"unknown actor ids {unknown}")
        return ids

    def window(self, spec: Mapping[str, Any], key: str, where: str, default: int) -> int:
        value = spec.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 50:
            raise self.fail(f"{where}.{key}", "expected a whole number from 1 to 50")
        return value

    def clause(self, spec: Any, where: str, actor_ids: set[str]) -> Clause:
        spec = self.mapping(spec, where)
        known = {
            "name",
            "before",
            "before_window",
            "after",
            "after_window",
            "near",
            "near_window",
            "not_near",
            "not_near_window",
            "prefix",
            "clause_start",
            "previous_word_definite",
            "tanwin",
            "hashtag",
            "after_pattern",
            "previous_word_pattern",
            "written",
            "previous_word_written",
            "article_mentions",
            "also_article_mentions",
        }
        extra = sorted(set(spec) - known)
        if extra:
            raise self.fail(where, f"unknown conditions {extra}")
        patterns: dict[str, re.Pattern[str] | None] = {}
        for key in ("after_pattern", "previous_word_pattern", "written", "previous_word_written"):
            patterns[key] = None
            if key in spec:
                try:
                    patterns[key] = re.compile(self.text(spec[key], f"{where}.{key}"))
                except re.error as error:
                    raise self.fail(f"{where}.{key}", f"bad regex: {error}") from error
        prefix = None
        if "prefix" in spec:
            prefix = frozenset(
                normalize_arabic(self.text(p, f"{where}.prefix"))
                for p in self.listing(spec["prefix"], f"{where}.prefix")
            )
        flags: dict[str, bool | None] = {}
        for key in ("clause_start", "previous_word_definite", "tanwin", "hashtag"):
            value = spec.get(key)
            if value is not None and not isinstance(value, bool):
                raise self.fail(f"{where}.{key}", "expected true or false")
            flags[key] = value
        return Clause(
            name=self.text(spec.get("name"), f"{where}.name"),
            before=self.words(spec.get("before"), f"{where}.before") or None,
            before_window=self.window(spec, "before_window", where, 2),
            after=self.words(spec.get("after"), f"{where}.after") or None,
            after_window=self.window(spec, "after_window", where, 2),
            near=self.words(spec.get("near"), f"{where}.near") or None,
            near_window=self.window(spec, "near_window", where, 10),
            not_near=self.words(spec.get("not_near"), f"{where}.not_near") or None,
            not_near_window=self.window(spec, "not_near_window", where, 10),
            prefix=prefix,
            clause_start=flags["clause_start"],
            previous_word_definite=flags["previous_word_definite"],
            tanwin=flags["tanwin"],
            hashtag=flags["hashtag"],
            after_pattern=patterns["after_pattern"],
            previous_word_pattern=patterns["previous_word_pattern"],
            written=patterns["written"],
            previous_word_written=patterns["previous_word_written"],
            article_mentions=self.ids(
                spec.get("article_mentions"), f"{where}.article_mentions", actor_ids
            ),
            also_article_mentions=self.ids(
                spec.get("also_article_mentions"), f"{where}.also_article_mentions", actor_ids
            ),
        )

    def rule(self, rule_id: str, spec: Any, actor_ids: set[str]) -> ContextRule:
        where = f"context_rules.{rule_id}"
        if not isinstance(rule_id, str) or not _SLUG.match(rule_id):
            raise self.fail(where, "rule ids are lowercase slugs")
        spec = self.mapping(spec, where)
        surname = None
        if "surname" in spec:
            raw = self.mapping(spec["surname"], f"{where}.surname")
            members = tuple(
                self.text(m, f"{where}.surname.members")
                for m in self.listing(raw.get("members"), f"{where}.surname.members")
            )
            default = self.text(raw.get("default"), f"{where}.surname.default")
            unknown = sorted(set(members) - actor_ids)
            if unknown:
                raise self.fail(f"{where}.surname.members", f"unknown actor ids {unknown}")
            if default not in members:
                raise self.fail(f"{where}.surname.default", "must be one of the members")
            surname = Surname(
                members=members,
                default=default,
                parent_before=self.words(raw.get("parent_before"), f"{where}.parent_before"),
                parent_after=self.words(raw.get("parent_after"), f"{where}.parent_after"),
            )
        reject = tuple(
            self.clause(c, f"{where}.reject[{i}]", actor_ids)
            for i, c in enumerate(self.listing(spec.get("reject"), f"{where}.reject"))
        )
        accept = tuple(
            self.clause(c, f"{where}.accept[{i}]", actor_ids)
            for i, c in enumerate(self.listing(spec.get("accept"), f"{where}.accept"))
        )
        if surname is None and not accept:
            raise self.fail(where, "a rule needs accept clauses or a surname")
        return ContextRule(
            id=rule_id,
            description=str(spec.get("description", "")).strip(),
            reject=reject,
            accept=accept,
            surname=surname,
        )

    def alias_entries(
        self, actor_id: str, items: Iterable[Any], where: str, rule: ContextRule | None
    ) -> list[Alias]:
        aliases: list[Alias] = []
        for index, item in enumerate(items):
            here = f"{where}[{index}]"
            case_sensitive = False
            prefixes = None
            if isinstance(item, Mapping):
                extra = sorted(set(item) - {"alias", "case_sensitive", "prefixes"})
                if extra:
                    raise self.fail(here, f"unknown keys {extra}")
                written = self.text(item.get("alias"), f"{here}.alias")
                case_sensitive = bool(item.get("case_sensitive", False))
                if "prefixes" in item:
                    prefixes = frozenset(
                        normalize_arabic(self.text(p, f"{here}.prefixes"))
                        for p in self.listing(item["prefixes"], f"{here}.prefixes")
                    )
            else:
                written = self.text(item, here)
            normal = self.normalized(written, here)
            for variant in _spelling_variants(normal, latin=not case_sensitive):
                aliases.append(
                    Alias(
                        text=written,
                        normalized=variant,
                        actor_id=actor_id,
                        rule=rule,
                        case_sensitive=case_sensitive,
                        prefixes=prefixes,
                        is_arabic=has_arabic_letter(variant),
                        compact=_NON_ALNUM.sub("", written),
                    )
                )
        return aliases

    def actor(self, actor_id: str, spec: Any, rules: dict[str, ContextRule]) -> Actor:
        where = f"actors.{actor_id}"
        spec = self.mapping(spec, where)
        type_name = self.text(spec.get("type"), f"{where}.type")
        try:
            entity_type = EntityType(type_name)
        except ValueError as error:
            allowed = ", ".join(t.value for t in EntityType)
            raise self.fail(f"{where}.type", f"{type_name!r} is not one of {allowed}") from error
        name = self.text(spec.get("name"), f"{where}.name")
        aliases = self.alias_entries(
            actor_id,
            self.listing(spec.get("aliases"), f"{where}.aliases"),
            f"{where}.aliases",
            None,
        )
        ambiguous = spec.get("ambiguous") or {}
        for rule_id, items in self.mapping(ambiguous, f"{where}.ambiguous").items():
            if rule_id not in rules:
                raise self.fail(f"{where}.ambiguous.{rule_id}", "no such context rule")
            aliases += self.alias_entries(
                actor_id,
                self.listing(items, f"{where}.ambiguous.{rule_id}"),
                f"{where}.ambiguous.{rule_id}",
                rules[rule_id],
            )
        aliases += self.surname_aliases(actor_id, spec.get("surnames"), where, rules)
        if not aliases:
            raise self.fail(f"{where}.aliases", "an actor needs at least one alias")
        # The first (strongest) spelling wins; a name written with capitals (Turkey) and its
        # lower-case form under another rule (turkey in a post) are two aliases.
        unique: dict[tuple[str, bool], Alias] = {}
        for alias in aliases:
            unique.setdefault((alias.normalized, alias.case_sensitive), alias)
        return Actor(id=actor_id, type=entity_type, name=name, aliases=tuple(unique.values()))

    def surname_aliases(
        self, actor_id: str, value: Any, where: str, rules: dict[str, ContextRule]
    ) -> list[Alias]:
        """A person's bare surnames, each recorded as ``distinctive`` (no other sense: it is
        the person unless another first name comes before it) or ``common`` (also a common word
        or a namesake's name: it needs the person or Libyan politics named around it). Each is
        decided by the category's rule (``SURNAME_RULES``) or by the rule an entry names
        (``{alias: كارة, rule: kara-surname}``)."""
        if value is None:
            return []
        spec = self.mapping(value, f"{where}.surnames")
        extra = sorted(set(spec) - set(SURNAME_RULES))
        if extra:
            raise self.fail(
                f"{where}.surnames", f"unknown keys {extra}: use {sorted(SURNAME_RULES)}"
            )
        aliases: list[Alias] = []
        for category, default_rule in SURNAME_RULES.items():
            here = f"{where}.surnames.{category}"
            for index, item in enumerate(self.listing(spec.get(category), here)):
                rule_id = default_rule
                if isinstance(item, Mapping) and "rule" in item:
                    rule_id = self.text(item["rule"], f"{here}[{index}].rule")
                    item = {key: item[key] for key in item if key != "rule"}
                rule = rules.get(rule_id)
                if rule is None:
                    raise self.fail(f"{here}[{index}]", f"no such context rule {rule_id!r}")
                aliases += self.alias_entries(actor_id, [item], f"{here}[{index}]", rule)
        return aliases

    def topic(self, topic_id: str, spec: Any) -> TopicDefinition:
        where = f"topics.{topic_id}"
        if not isinstance(topic_id, str) or not _SLUG.match(topic_id):
            raise self.fail(where, "topic ids are lowercase slugs")
        spec = self.mapping(spec, where)
        min_score = spec.get("min_score", 2)
        if not isinstance(min_score, int) or isinstance(min_score, bool) or min_score < 1:
            raise self.fail(f"{where}.min_score", "expected a positive whole number")
        terms: dict[str, TopicTerm] = {}
        for index, item in enumerate(self.listing(spec.get("terms"), f"{where}.terms")):
            here = f"{where}.terms[{index}]"
            weight, case_sensitive, group = 1, False, ""
            if isinstance(item, Mapping):
                written = self.text(item.get("term"), f"{here}.term")
                weight = item.get("weight", 1)
                case_sensitive = bool(item.get("case_sensitive", False))
                group = item.get("group", "")
                if not isinstance(group, str) or (group and not _SLUG.match(group)):
                    raise self.fail(f"{here}.group", "expected a lowercase slug")
                # Weight 0: a phrase that is not the topic and holds a term of it ("artificial
                # intelligence"): the longer match takes the word, and counts nothing.
                if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                    raise self.fail(f"{here}.weight", "expected a whole number, 0 or more")
            else:
                written = self.text(item, here)
            normal = self.normalized(written, here)
            terms.setdefault(
                normal,
                TopicTerm(
                    text=written,
                    normalized=normal,
                    topic_id=topic_id,
                    weight=weight,
                    case_sensitive=case_sensitive,
                    is_arabic=has_arabic_letter(normal),
                    compact=_NON_ALNUM.sub("", written),
                    group=group,
                ),
            )
        if not terms:
            raise self.fail(f"{where}.terms", "a topic needs terms")
        return TopicDefinition(
            id=topic_id,
            name=self.text(spec.get("name", topic_id), f"{where}.name"),
            min_score=min_score,
            terms=tuple(terms.values()),
            labels=self.labels(spec["labels"], f"{where}.labels") if "labels" in spec else None,
        )


def _spelling_variants(normal: str, *, latin: bool = True) -> list[str]:
    """ "عبد X" is written both split and joined (عبد الرؤوف / عبدالرؤوف); list both. Latin
    names get their transliteration family (``_latin_variants``) unless ``latin`` is False
    (case-sensitive aliases are written exactly)."""
    variants = [normal]
    if "عبد " in normal:
        variants.append(normal.replace("عبد ", "عبد"))
    elif re.search(r"عبد(?=ال)", normal):
        variants.append(re.sub(r"عبد(?=ال)", "عبد ", normal))
    elif latin and not has_arabic_letter(normal):
        variants += [v for v in _latin_variants(normal) if v != normal]
    return variants


# "Abd al-X" in Latin letters: abdul X, abdel X, abd al X, abd el X, abdulX, abdelX, and the
# assimilated forms before a sun letter (abderraouf, abdurraouf, abd ar raouf). A name of
# three letters or fewer after the prefix is not split (Abdullah, Abdallah).
_ABD_JOINED = re.compile(r"^abd(?:ul|el|al|oul)([a-z]{4,})$")
_ABD_ASSIMILATED = re.compile(r"^abd[eu]([tdrzsn])\1([a-z]{3,})$")
_ABD_PREFIX = ("abdul", "abdel", "abdal", "abdoul")
_ABD_ARTICLE = ("al", "el", "ul", "ar", "as", "ad", "at", "az", "an")
_SUN_LETTERS = frozenset("tdrzsn")


def _abd_forms(name: str) -> list[str]:
    forms = [f"abdul {name}", f"abdel {name}", f"abd al {name}", f"abd el {name}"]
    forms += [f"abdul{name}", f"abdel{name}"]
    first = name[0]
    if first in _SUN_LETTERS and name[1:2] != first:
        forms += [f"abde{first}{name}", f"abdu{first}{name}", f"abd a{first} {name}"]
    return forms


def _latin_word_forms(words: list[str], index: int) -> tuple[list[list[str]], int]:
    """The written forms of the word(s) at ``index`` and how many words they span."""
    word = words[index]
    following = words[index + 1] if index + 1 < len(words) else ""
    if word in _ABD_PREFIX and len(following) >= 4:
        return [form.split(" ") for form in _abd_forms(following)], 2
    if word == "abd" and following in _ABD_ARTICLE and index + 2 < len(words):
        return [form.split(" ") for form in _abd_forms(words[index + 2])], 3
    joined = _ABD_JOINED.match(word)
    if joined:
        return [form.split(" ") for form in _abd_forms(joined.group(1))], 1
    assimilated = _ABD_ASSIMILATED.match(word)
    if assimilated:
        name = assimilated.group(1) + assimilated.group(2)
        return [form.split(" ") for form in _abd_forms(name)], 1
    if word in ("al", "el") and following:
        # The article: al- and el- alike; inside a name it may also be left out.
        return ([["al"], ["el"], []] if index else [["al"], ["el"]]), 1
    forms = [[word]]
    if index == len(words) - 1 and len(words) > 1 and len(word) >= 4:
        # A name's last word: -ah and -a endings alike (Karah / Kara, Dbeibah / Dbeiba).
        if word.endswith("ah"):
            forms.append([word[:-1]])
        elif word.endswith("a") and not word.endswith("aa"):
            forms.append([word + "h"])
    return forms, 1


def _latin_variants(normal: str) -> list[str]:
    """The transliteration family of a normalised Latin name: the Abd- prefixes, al-/el- (and,
    inside a name, no article) and the -ah/-a ending of its last word."""
    words = normal.split(" ")
    variants: list[list[str]] = [[]]
    index = 0
    while index < len(words):
        forms, span = _latin_word_forms(words, index)
        variants = [variant + form for variant in variants for form in forms]
        index += span
    unique = dict.fromkeys(" ".join(variant) for variant in variants if variant)
    return list(unique)
