"""The lexicon of the bundled English→French grammar (`nmt.data.sample`): words, not sentences.

It holds every word the generator may use and what the grammar needs to know about it:

* nouns with their plurals, French gender and semantic tags (``animate``, ``food``,
  ``way``, ``container``, …), so that verbs and adjectives pick nouns that fit;
* adjectives with their four French forms, their place (before or after the noun,
  predicate only) and the noun tags they can describe;
* verbs with their English forms, French present tense, past participle, auxiliary
  and the tags of their subjects and objects (transitive, ditransitive, motion,
  intransitive);
* function words and conjugation tables: *être* and *avoir*, subject pronouns,
  possessives, numerals, location prepositions;
* the word lists of the coreference sentences: which predicates point to the
  subject and which to the place.

The tables are compact strings parsed once at import into `Noun`, `Adjective` and
`Verb` records (`NOUNS`, `ADJECTIVES`, `TRANSITIVE_VERBS`, …); `nouns_with`,
`verbs_taking`, `attributive` and `predicative` look words up by tag. Adding a word
means adding an entry to a table here; `nmt.data.sample_phrases` and
`nmt.data.sample_grammar` turn the words into sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Gender = Literal["m", "f"]
Number = Literal["sg", "pl"]

# ---------------------------------------------------------------------------
# Nouns: "english[/plural] french[/plural] gender", regular plurals
# derived. Tags say what a noun is, so verbs and adjectives pick fitting ones.
# ---------------------------------------------------------------------------

_NOUN_BLOCKS: dict[str, str] = {
    "animal animate": """
        cat chat m; dog chien m; horse cheval/chevaux m; bird oiseau m; rabbit lapin m; fox renard m;
        wolf/wolves loup m; bear ours m; duck canard m; pig cochon m; lion lion m; tiger tigre m;
        elephant éléphant m; monkey singe m; donkey âne m; hedgehog hérisson m; squirrel écureuil m;
        snail escargot m; snake serpent m; lamb agneau m;
        cow vache f; mouse/mice souris f; goat chèvre f; hen poule f; turtle tortue f; frog grenouille f;
        bee abeille f; ant fourmi f; spider araignée f; owl chouette f; giraffe girafe f; wasp guêpe f;
        caterpillar chenille f; goose/geese oie f; ladybird coccinelle f; gazelle gazelle f; panther panthère f""",
    "person animate": """
        man/men homme m; boy garçon m; king roi m; father père m; brother frère m; uncle oncle m;
        actor acteur m; prince prince m; waiter serveur m; grandfather grand-père/grands-pères m;
        child/children enfant m; doctor médecin m; teacher professeur m;
        woman/women femme f; girl fille f; queen reine f; mother mère f; sister sœur f; aunt tante f;
        actress actrice f; princess princesse f; waitress serveuse f; grandmother grand-mère/grands-mères f""",
    "thing": """
        table table f; chair chaise f; door porte f; window fenêtre f; box boîte f; ball ballon m;
        car voiture f; bicycle vélo m; key clé f; bag sac m; hat chapeau m; shirt chemise f;
        shoe chaussure f; cup tasse f; glass verre m; plate assiette f; bottle bouteille f;
        knife/knives couteau m; spoon cuillère f; lamp lampe f; clock horloge f; picture tableau m;
        pen stylo m; phone téléphone m; computer ordinateur m; umbrella parapluie m; boat bateau m;
        toy jouet m; ring bague f; coat manteau m; dress robe f; mirror miroir m; basket panier m;
        pencil crayon m; ladder échelle f; rope corde f; stone pierre f; flower fleur f; tree arbre m;
        guitar guitare f; piano piano m; drum tambour m; boot botte f; glove gant m; scarf/scarves écharpe f;
        necklace collier m; wallet portefeuille m; ticket billet m; gift cadeau m; suitcase valise f;
        drawer tiroir m; cupboard placard m; pocket poche f; envelope enveloppe f; candle bougie f;
        blanket couverture f; photo photo f; map carte f""",
    "thing text": """
        book livre m; letter lettre f; newspaper journal/journaux m; story histoire f; poem poème m;
        message message m; list liste f; recipe recette f; notebook cahier m""",
    "food": """
        apple pomme f; cake gâteau m; egg œuf m; orange orange f; banana banane f; pear poire f;
        carrot carotte f; tomato/tomatoes tomate f; strawberry fraise f; cherry cerise f; lemon citron m;
        pie tarte f; sandwich sandwich m; biscuit biscuit m; pizza pizza f; sausage saucisse f; onion oignon m""",
    "food mass": """
        bread pain m; cheese fromage m; soup soupe f; chocolate chocolat m; rice riz m; meat viande f;
        butter beurre m; honey miel m; jam confiture f; salad salade f; sugar sucre m""",
    "drink mass": "water eau f; milk lait m; coffee café m; tea thé m; juice jus m; lemonade limonade f",
    "place way": """
        street rue f; road route f; bridge pont m; river rivière f; path chemin m; tunnel tunnel m;
        avenue avenue f; highway autoroute f; stream ruisseau m; field champ m; meadow prairie f;
        valley vallée f; forest forêt f; park parc m; beach plage f; lake lac m; desert désert m; garden jardin m""",
    "place building": """
        house maison f; school école f; church église f; library bibliothèque f; station gare f;
        kitchen cuisine f; bakery boulangerie f; bank banque f; farm ferme f; barn grange f; cave grotte f;
        tower tour f; museum musée m; shop magasin m; restaurant restaurant m; hospital hôpital/hôpitaux m;
        hotel hôtel m; castle château m; office bureau m; cinema cinéma m; theatre théâtre m;
        market marché m; stadium stade m""",
}
_EXTRA_TAGS: dict[str, str] = {
    "openable": "door window box car bag bottle umbrella suitcase drawer cupboard envelope book notebook",
    "fragile": "window cup glass plate bottle lamp mirror clock",
    "container": "box bag basket suitcase drawer cupboard pocket envelope",
    "fits": "book letter ball bottle lamp umbrella hat coat map picture guitar photo shoe toy phone key",
    "shaped": "table box mirror plate clock window",
    "cover": "table chair tree car umbrella",
    "vehicle": "car bicycle boat",
    "fruit": "apple pear cherry lemon tomato banana",
    "water": "river stream lake",
    "on": "road bridge path avenue highway beach",  # "on the bridge" / "sur le pont"; others "in"/"dans"
}

# Adjectives: "english m/f[/m_plural[/f_plural]][ liaison] : noun tags" (French forms). Group "pre" precedes
# the noun in French; colour/nation/shape may follow a "pre" one; "state" ones stand alone;
# "predicate" ones only follow a verb ("the shop is close", never "the close shop").
_ADJECTIVE_BLOCKS: dict[str, str] = {
    "pre": """
        small petit/petite : animate thing food place; big grand/grande : animate thing place;
        young jeune/jeune : animate; old vieux/vieille/vieux vieil : animate thing place;
        new nouveau/nouvelle/nouveaux nouvel : thing place; beautiful beau/belle/beaux bel : animate thing place;
        good bon/bonne : food text; bad mauvais/mauvaise : food text; long long/longue : text way""",
    "colour": """
        red rouge/rouge : thing fruit building; blue bleu/bleue : thing building;
        green vert/verte : thing fruit building; black noir/noire : thing animal;
        white blanc/blanche : thing animal building; yellow jaune/jaune : thing fruit building;
        grey gris/grise : thing animal; brown brun/brune : animal; pink rose/rose : thing""",
    "nation": """
        French français/française : person food vehicle building; English anglais/anglaise : person food text;
        Italian italien/italienne : person food vehicle; Spanish espagnol/espagnole : person food;
        German allemand/allemande : person food vehicle; Chinese chinois/chinoise : person food;
        Japanese japonais/japonaise : person food vehicle""",
    "shape": "round rond/ronde : shaped; square carré/carrée : shaped; oval ovale/ovale : shaped",
    "state": """
        tired fatigué/fatiguée : animate; happy heureux/heureuse : animate; sad triste/triste : person;
        heavy lourd/lourde : thing; light léger/légère : thing; hot chaud/chaude : food drink;
        cold froid/froide : food drink; fast rapide/rapide : animal vehicle; slow lent/lente : animal vehicle;
        dirty sale/sale : thing animal; famous célèbre/célèbre : person building;
        expensive cher/chère : thing food; empty vide/vide : container building way;
        full plein/pleine : container; clever intelligent/intelligente : animate;
        curious curieux/curieuse : animal; brave courageux/courageuse : animate;
        lazy paresseux/paresseuse : animate; sick malade/malade : animate; weak faible/faible : animate;
        nervous nerveux/nerveuse : animate; wet mouillé/mouillée : thing way; dry sec/sèche : thing way;
        narrow étroit/étroite : way; wide large/large : way; noisy bruyant/bruyante : place;
        busy animé/animée : place; dark sombre/sombre : place; crowded bondé/bondée : place;
        dangerous dangereux/dangereuse : place; quiet calme/calme : place animal; short court/courte : text way;
        safe sûr/sûre : way; open ouvert/ouverte : openable building""",
    "predicate": "close proche/proche : place; far loin/loin/loin/loin : place",
}
# English predicate -> French noun after "avoir": "the dog is hungry" / "le chien a faim".
AVOIR_PREDICATES: dict[str, str] = {"hungry": "faim", "thirsty": "soif", "scared": "peur"}

# Verbs: "base 3sg past", "je il nous vous ils participle", subject tags, object tags.
_TRANSITIVE_ROWS = (
    ("see sees saw", "vois voit voyons voyez voient vu", "animate", "animal person thing food place"),
    ("eat eats ate", "mange mange mangeons mangez mangent mangé", "animate", "food"),
    ("drink drinks drank", "bois boit buvons buvez boivent bu", "animate", "drink"),
    ("like likes liked", "aime aime aimons aimez aiment aimé", "animate", "animal person thing food place"),
    ("love loves loved", "adore adore adorons adorez adorent adoré", "animate", "animal person thing food"),
    ("watch watches watched", "regarde regarde regardons regardez regardent regardé", "animate", "animal person"),
    ("find finds found", "trouve trouve trouvons trouvez trouvent trouvé", "animate", "animal thing food"),
    ("take takes took", "prends prend prenons prenez prennent pris", "person", "thing food"),
    ("buy buys bought", "achète achète achetons achetez achètent acheté", "person", "thing food drink"),
    ("write writes wrote", "écris écrit écrivons écrivez écrivent écrit", "person", "text"),
    ("open opens opened", "ouvre ouvre ouvrons ouvrez ouvrent ouvert", "person", "openable"),
    ("close closes closed", "ferme ferme fermons fermez ferment fermé", "person", "openable"),
    ("carry carries carried", "porte porte portons portez portent porté", "person", "thing"),
    ("clean cleans cleaned", "nettoie nettoie nettoyons nettoyez nettoient nettoyé", "person", "thing building"),
    ("paint paints painted", "peins peint peignons peignez peignent peint", "person", "thing building"),
    ("draw draws drew", "dessine dessine dessinons dessinez dessinent dessiné", "person", "animal person thing place"),
    ("follow follows followed", "suis suit suivons suivez suivent suivi", "animate", "animal person"),
    ("cross crosses crossed", "traverse traverse traversons traversez traversent traversé", "animate", "way"),
    ("visit visits visited", "visite visite visitons visitez visitent visité", "person", "building"),
    ("leave leaves left", "quitte quitte quittons quittez quittent quitté", "animate", "place"),
    ("reach reaches reached", "atteins atteint atteignons atteignez atteignent atteint", "animate", "place"),
    ("sell sells sold", "vends vend vendons vendez vendent vendu", "person", "thing food animal"),
    ("wash washes washed", "lave lave lavons lavez lavent lavé", "person", "thing animal"),
    ("break breaks broke", "casse casse cassons cassez cassent cassé", "animate", "fragile"),
    ("lose loses lost", "perds perd perdons perdez perdent perdu", "person", "thing"),
    ("hear hears heard", "entends entend entendons entendez entendent entendu", "animate", "animal person"),
    ("help helps helped", "aide aide aidons aidez aident aidé", "person", "animal person"),
    ("call calls called", "appelle appelle appelons appelez appellent appelé", "person", "animal person"),
    ("build builds built", "construis construit construisons construisez construisent construit", "person", "building"),
    ("hide hides hid", "cache cache cachons cachez cachent caché", "animate", "thing food"),
    ("catch catches caught", "attrape attrape attrapons attrapez attrapent attrapé", "animate", "animal"),
    ("chase chases chased", "chasse chasse chassons chassez chassent chassé", "animate", "animal"),
    # English needs a preposition that French does not: "wait for the bus" / "attendre le bus".
    ("wait waits waited for", "attends attend attendons attendez attendent attendu", "animate", "animal person"),
    ("look looks looked for", "cherche cherche cherchons cherchez cherchent cherché", "animate",
     "animal person thing"),
    ("listen listens listened to", "écoute écoute écoutons écoutez écoutent écouté", "animate", "animal person"),
)
# Verbs about liking take a definite object: "j'aime les chats", never "j'aime des chats".
DEFINITE_ONLY = frozenset({"like", "love"})
# Ditransitive: "give X to Y" / "donner X à Y"; the last column is the recipient's tags.
_DITRANSITIVE_ROWS = (
    ("give gives gave", "donne donne donnons donnez donnent donné", "thing food", "animate"),
    ("show shows showed", "montre montre montrons montrez montrent montré", "thing animal", "person"),
    ("offer offers offered", "offre offre offrons offrez offrent offert", "thing food", "person"),
    ("send sends sent", "envoie envoie envoyons envoyez envoient envoyé", "text thing", "person"),
    ("throw throws threw", "lance lance lançons lancez lancent lancé", "fits", "animate"),
)
# Motion verbs take "être" in the passé composé, so the participle agrees with the subject.
# Columns: English, French, English preposition, French preposition ("@" = the place's in/on), place tags.
_MOTION_ROWS = (
    ("go goes went", "vais va allons allez vont allé", "to", "à", "place"),
    ("come comes came", "viens vient venons venez viennent venu", "from", "de", "place"),
    ("arrive arrives arrived", "arrive arrive arrivons arrivez arrivent arrivé", "at", "à", "place"),
    ("return returns returned", "retourne retourne retournons retournez retournent retourné", "to", "à", "place"),
    ("enter enters entered", "entre entre entrons entrez entrent entré", "", "dans", "building"),
    ("fall falls fell", "tombe tombe tombons tombez tombent tombé", "into", "dans", "water"),
    ("stay stays stayed", "reste reste restons restez restent resté", "@", "@", "place"),
)
_INTRANSITIVE_ROWS = (
    ("sleep sleeps slept", "dors dort dormons dormez dorment dormi", "animate"),
    ("run runs ran", "cours court courons courez courent couru", "animate"),
    ("swim swims swam", "nage nage nageons nagez nagent nagé", "animate"),
    ("sing sings sang", "chante chante chantons chantez chantent chanté", "person"),
    ("dance dances danced", "danse danse dansons dansez dansent dansé", "person"),
    ("work works worked", "travaille travaille travaillons travaillez travaillent travaillé", "person"),
    ("play plays played", "joue joue jouons jouez jouent joué", "animate"),
    ("walk walks walked", "marche marche marchons marchez marchent marché", "animate"),
    ("laugh laughs laughed", "ris rit rions riez rient ri", "person"),
    ("cry cries cried", "pleure pleure pleurons pleurez pleurent pleuré", "person"),
    ("jump jumps jumped", "saute saute sautons sautez sautent sauté", "animate"),
)

# ---------------------------------------------------------------------------
# Function words: être and avoir, subject pronouns, possessives, numerals, prepositions.
# ---------------------------------------------------------------------------

ETRE = ("suis", "est", "sommes", "êtes", "sont")
AVOIR = ("ai", "a", "avons", "avez", "ont")
ETRE_IMPARFAIT = ("étais", "était", "étions", "étiez", "étaient")
AVOIR_IMPARFAIT = ("avais", "avait", "avions", "aviez", "avaient")
PERSONS = ("1s", "3s", "1p", "2p", "3p")  # index into the French conjugation tuples
# English "you" is always "vous" so each source has one translation; I/you/we never meet an
# agreeing word (être participle, adjective), whose gender English does not show.
PRONOUNS = {"I": ("je", "1s", "m"), "you": ("vous", "2p", "m"), "we": ("nous", "1p", "m"),
            "he": ("il", "3s", "m"), "she": ("elle", "3s", "f")}
POSSESSIVES = {"my": ("mon", "ma", "mes"), "your": ("votre", "votre", "vos"), "his": ("son", "sa", "ses"),
               "her": ("son", "sa", "ses"), "our": ("notre", "notre", "nos"), "their": ("leur", "leur", "leurs")}
NUMERALS = {"two": "deux", "three": "trois", "four": "quatre", "five": "cinq"}
# Location prepositions other than the place's own in/on; "de" ones contract (près du parc).
LOCATIONS = (("near", "près de", "place thing animate"), ("next to", "à côté de", "place thing animate"),
             ("behind", "derrière", "place thing animate"), ("in front of", "devant", "place thing animate"),
             ("far from", "loin de", "place"), ("under", "sous", "cover"))

# ---------------------------------------------------------------------------
# Coreference word lists.
# ---------------------------------------------------------------------------

# Coreference reasons. The predicate decides the antecedent: an animate one the subject,
# a place one the place. "neg" reasons follow "did not …" with "too", "pos" ones an
# affirmative clause with "very" (or nothing).
SUBJECT_REASONS = {"neg": "tired scared weak sick slow lazy young nervous",
                   "pos": "hungry thirsty curious brave happy"}
PLACE_REASONS = {("way", "neg"): "wide long narrow wet dangerous dark busy crowded noisy far",
                 ("building", "neg"): "busy crowded noisy dark far dangerous",
                 ("way", "pos"): "empty short dry safe close",
                 ("building", "pos"): "empty close open"}
# "The ball did not fit in the box because it was too big / too small."
FIT_REASONS = {"subject": "big long wide", "object": "small full narrow"}
# (verb, English and French preposition before the place, place tags) for "cross the street" & co.
COREF_VERBS = (("cross", "", "", "way"), ("visit", "", "", "building"), ("leave", "", "", "place"),
               ("reach", "", "", "place"), ("go", "to", "à", "place"), ("enter", "", "dans", "building"),
               ("stay", "@", "@", "place"))


# ---------------------------------------------------------------------------
# Entries parsed into words.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Noun:
    en: str
    en_plural: str
    fr: str
    fr_plural: str
    gender: Gender
    tags: frozenset[str]

    @property
    def countable(self) -> bool:
        return "mass" not in self.tags

    def form(self, number: Number, lang: str) -> str:
        if lang == "en":
            return self.en if number == "sg" else self.en_plural
        return self.fr if number == "sg" else self.fr_plural


@dataclass(frozen=True, slots=True)
class Adjective:
    en: str
    forms: tuple[str, str, str, str]  # French m sg, f sg, m pl, f pl
    group: str  # pre | colour | nation | shape | state | predicate
    tags: frozenset[str]  # noun tags it can describe
    liaison: str  # masculine singular before a vowel (bel, vieil, nouvel), else ""

    def fr(self, gender: Gender, number: Number) -> str:
        return self.forms[(gender == "f") + 2 * (number == "pl")]


@dataclass(frozen=True, slots=True)
class Verb:
    en: tuple[str, str, str]  # base, 3rd person singular present, past
    present: tuple[str, str, str, str, str]  # je, il, nous, vous, ils (see PERSONS)
    participle: str
    aux: Literal["avoir", "être"]
    subjects: frozenset[str]
    objects: frozenset[str]
    particle: str = ""  # English preposition French does without ("for" in "wait for")


def _en_plural(word: str) -> str:
    if word.endswith(("s", "sh", "ch", "x", "z")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _fr_plural(word: str) -> str:
    if word.endswith(("s", "x", "z")):
        return word
    return word + ("x" if word.endswith(("eau", "eu")) else "s")


def _entries(block: str) -> list[str]:
    return [entry.strip() for entry in block.replace("\n", " ").split(";") if entry.strip()]


def _parse_nouns() -> tuple[Noun, ...]:
    extra_tags: dict[str, set[str]] = {}
    for tag, words in _EXTRA_TAGS.items():
        for en in words.split():
            extra_tags.setdefault(en, set()).add(tag)
    nouns = []
    for tags, block in _NOUN_BLOCKS.items():
        for entry in _entries(block):
            en, fr, gender = entry.split()
            en, _, en_plural = en.partition("/")
            fr, _, fr_plural = fr.partition("/")
            nouns.append(Noun(en, en_plural or _en_plural(en), fr, fr_plural or _fr_plural(fr), gender,
                              frozenset(tags.split()) | extra_tags.get(en, set())))
    assert extra_tags.keys() <= {n.en for n in nouns}, "an extra tag names an unknown noun"
    return tuple(nouns)


def _parse_adjectives() -> tuple[Adjective, ...]:
    adjectives = []
    for group, block in _ADJECTIVE_BLOCKS.items():
        for entry in _entries(block):
            words, tags = entry.split(":")
            en, forms, *liaison = words.split()
            masc, fem, masc_plural, fem_plural = (forms.split("/") + ["", ""])[:4]
            plurals = (masc_plural or _fr_plural(masc), fem_plural or fem + "s")
            adjectives.append(Adjective(en, (masc, fem, *plurals), group, frozenset(tags.split()),
                                        liaison[0] if liaison else ""))
    return tuple(adjectives)


def _verb(english: str, french: str, aux: str, subjects: str, objects: str) -> Verb:
    base, third, past, *particle = english.split()
    *present, participle = french.split()
    return Verb((base, third, past), tuple(present), participle, aux,  # type: ignore[arg-type]
                frozenset(subjects.split()), frozenset(objects.split()), particle[0] if particle else "")


NOUNS: tuple[Noun, ...] = _parse_nouns()
ADJECTIVES: tuple[Adjective, ...] = _parse_adjectives()
TRANSITIVE_VERBS = tuple(_verb(en, fr, "avoir", s, o) for en, fr, s, o in _TRANSITIVE_ROWS)
DITRANSITIVE_VERBS = tuple((_verb(en, fr, "avoir", "person", o), frozenset(r.split()))
                           for en, fr, o, r in _DITRANSITIVE_ROWS)
MOTION_VERBS = tuple((_verb(en, fr, "être", "animate", t), ep, fp) for en, fr, ep, fp, t in _MOTION_ROWS)
INTRANSITIVE_VERBS = tuple(_verb(en, fr, "avoir", s, "") for en, fr, s in _INTRANSITIVE_ROWS)
ADJECTIVE_BY_EN = {adjective.en: adjective for adjective in ADJECTIVES}
VERB_BY_EN = {v.en[0]: v for v in TRANSITIVE_VERBS} | {v.en[0]: v for v, _, _ in MOTION_VERBS}
FIT_VERB = _verb("fit fits fit", "tiens tient tenons tenez tiennent tenu", "avoir", "thing", "container")


def lexicon_size() -> dict[str, int]:
    """Distinct English lemmas per part of speech (the sizes the README quotes)."""
    verbs = {v.en[0] for v in TRANSITIVE_VERBS + INTRANSITIVE_VERBS}
    verbs |= {v.en[0] for v, _ in DITRANSITIVE_VERBS} | {v.en[0] for v, _, _ in MOTION_VERBS} | {"fit"}
    return {"nouns": len(NOUNS), "adjectives": len(ADJECTIVES) + len(AVOIR_PREDICATES), "verbs": len(verbs)}


# ---------------------------------------------------------------------------
# Lookups by tag (cached: the generator asks the same questions over and over).
# ---------------------------------------------------------------------------


@lru_cache(maxsize=None)
def nouns_with(tags: frozenset[str], *, countable_only: bool = False) -> tuple[Noun, ...]:
    return tuple(n for n in NOUNS if n.tags & tags and (n.countable or not countable_only))


@lru_cache(maxsize=None)
def verbs_taking(tags: frozenset[str]) -> tuple[Verb, ...]:
    """Transitive verbs with a countable object among `tags`."""
    return tuple(v for v in TRANSITIVE_VERBS if nouns_with(v.objects & tags, countable_only=True))


@lru_cache(maxsize=None)
def attributive(noun: Noun, group: str) -> tuple[Adjective, ...]:
    groups = ("colour", "nation", "shape") if group == "post" else (group,)
    return tuple(a for a in ADJECTIVES if a.group in groups and a.tags & noun.tags)


@lru_cache(maxsize=None)
def predicative(noun: Noun) -> tuple[Adjective, ...]:
    return tuple(a for a in ADJECTIVES if a.tags & noun.tags)
