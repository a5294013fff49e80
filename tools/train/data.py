"""Seeded data generator for the shiftrope passkey model.

Everything here is deterministic and fully specified so that the C++ passkey
evaluator can rebuild the exact same prompts (see tools/train/README.md):

* tokens are bytes (id = byte value), BOS = 256, EOS = 257;
* random numbers come from splitmix64 (below), never from Python's `random`;
* each document first draws a small cast (3 characters "adj noun", 3 places
  "adj place"); a filler sentence is "The {character} {verb} the {place}."
  with the character and place drawn from the cast, so phrases repeat inside
  a document as in real text;
* a document is BOS + INSTRUCTION + filler with one needle + QUESTION +
  answer + EOS.
"""

import math

BOS = 256
EOS = 257
VOCAB_SIZE = 258

INSTRUCTION = ("There is an important info hidden inside a lot of irrelevant text. "
               "Find it and memorize it.")
QUESTION = " What is the pass key? The pass key is"

ADJECTIVES = ["red", "old", "small", "big", "quiet", "green", "happy", "tall"]
NOUNS = ["fox", "cat", "dog", "bird", "man", "girl", "boy", "horse"]
VERBS = ["walks to", "runs to", "looks at", "sits near", "waits by", "jumps over", "goes past",
         "sleeps under"]
PLACES = ["mill", "river", "house", "park", "hill", "bridge", "market", "garden"]

KEY_MIN = 10000  # keys are KEY_MIN + next_u64() % KEY_RANGE: always 5 digits
KEY_RANGE = 90000

MASK64 = (1 << 64) - 1

# Token kinds reported by PackedStream (used to weight the loss).
ANSWER_DIGIT = 1
NEEDLE_COPY_DIGIT = 2
DRILL_COPY = 3  # a token of the second or third copy in a repeat drill


class SplitMix64:
    """splitmix64 (Steele, Lea, Flood 2014): tiny, portable, same stream in C++."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Integer in [0, n) as next_u64() % n (the modulo bias is negligible for n <= 2^17)."""
        return self.next_u64() % n

    def uniform(self):
        """Float in [0, 1) from the top 53 bits."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))


CAST_SIZE = 3  # characters and places per document


def draw_cast(rng):
    """(characters, places): CAST_SIZE "adj noun" then CAST_SIZE "adj place", two draws each
    (adjective first)."""
    characters = []
    for _ in range(CAST_SIZE):
        adj = ADJECTIVES[rng.below(len(ADJECTIVES))]
        characters.append("%s %s" % (adj, NOUNS[rng.below(len(NOUNS))]))
    places = []
    for _ in range(CAST_SIZE):
        adj = ADJECTIVES[rng.below(len(ADJECTIVES))]
        places.append("%s %s" % (adj, PLACES[rng.below(len(PLACES))]))
    return characters, places


def sentence(rng, cast):
    """One filler sentence; three draws in the order character, verb, place."""
    characters, places = cast
    character = characters[rng.below(len(characters))]
    verb = VERBS[rng.below(len(VERBS))]
    place = places[rng.below(len(places))]
    return "The %s %s the %s." % (character, verb, place)


def needle(key):
    return " The pass key is %d. Remember it. %d is the pass key." % (key, key)


def answer(key):
    return " %d." % key


# Tokens of a document that are not filler: BOS, instruction, needle, question, answer, EOS.
# The key always has 5 digits, so this is a constant (200).
FIXED_LEN = 1 + len(INSTRUCTION) + len(needle(KEY_MIN)) + len(QUESTION) + len(answer(KEY_MIN)) + 1


def draw_filler(rng, budget):
    """A cast, then sentences, each prefixed with one space, while the total stays <= budget bytes.

    The sentence that would overflow the budget is drawn (its three draws are
    consumed) and discarded, then drawing stops.
    """
    cast = draw_cast(rng)
    parts = []
    used = 0
    while True:
        s = " " + sentence(rng, cast)
        if used + len(s) > budget:
            return parts
        parts.append(s)
        used += len(s)


class Document:
    """One passkey document and where its parts sit (token offsets inside the document)."""

    def __init__(self, key, parts, needle_index):
        self.key = key
        self.n_sentences = len(parts)
        self.needle_index = needle_index
        head = INSTRUCTION + "".join(parts[:needle_index])
        # Offsets: token 0 is BOS, so byte b of the text is token b + 1.
        self.needle_key_pos = 1 + len(head) + len(" The pass key is ")
        # The key's second copy inside the needle ("... Remember it. K is ...").
        self.needle_copy_pos = self.needle_key_pos + len("12345. Remember it. ")
        text = head + needle(key) + "".join(parts[needle_index:]) + QUESTION
        self.prompt = [BOS] + list(text.encode("ascii"))
        self.answer = list(answer(key).encode("ascii"))
        self.tokens = self.prompt + self.answer + [EOS]
        # Position of the first answer digit (the answer starts with a space).
        self.answer_key_pos = len(self.prompt) + 1

    @property
    def distance(self):
        """Relative distance from the needle's first key digit to the answer's first digit."""
        return self.answer_key_pos - self.needle_key_pos


def make_document(rng, doc_len, depth=None):
    """Build a document of at most doc_len tokens (BOS ... EOS).

    Draw order: key, then the cast and the filler sentences (see draw_filler, budget
    doc_len - FIXED_LEN), then, when depth is None, the needle index as
    below(n_sentences + 1). With a given depth in [0, 1] the needle goes before
    sentence floor(depth * n_sentences + 0.5) (0: right after the instruction,
    n_sentences: right before the question).
    """
    if doc_len < FIXED_LEN:
        raise ValueError("doc_len %d < minimum document length %d" % (doc_len, FIXED_LEN))
    key = KEY_MIN + rng.below(KEY_RANGE)
    parts = draw_filler(rng, doc_len - FIXED_LEN)
    if depth is None:
        index = rng.below(len(parts) + 1)
    else:
        index = int(math.floor(depth * len(parts) + 0.5))
    return Document(key, parts, index)


def filler_fragment(rng, n):
    """Exactly n tokens: BOS followed by filler sentences (own cast) cut at n (pads a packed sequence)."""
    cast = draw_cast(rng)
    out = [BOS]
    while len(out) < n:
        out.extend((" " + sentence(rng, cast)).encode("ascii"))
    return out[:n]


def drill_document(rng):
    """Repeat drill: BOS + seg + seg + seg, seg = " " + words joined by spaces + ".".

    2 + below(7) words, each a 5-digit number (when below(2) == 0) or one of
    the 32 grammar words ADJ + NOUN + PLACE + VERB (below(32)). Returns
    (tokens, kind) with kind DRILL_COPY on the second and third copies.
    """
    words = []
    for _ in range(2 + rng.below(7)):
        if rng.below(2) == 0:
            words.append(str(KEY_MIN + rng.below(KEY_RANGE)))
        else:
            vocab = ADJECTIVES + NOUNS + PLACES + VERBS
            words.append(vocab[rng.below(len(vocab))])
    seg = list((" " + " ".join(words) + ".").encode("ascii"))
    return [BOS] + seg * 3, [0] * (1 + len(seg)) + [DRILL_COPY] * (2 * len(seg))


def byte_drill_batch(rng, batch, half):
    """Warm-up copy drill: rows [batch][2 * half + 1] = BOS, r, r with r = half random bytes
    (below(256) each). Only the second r is predictable, and only by copying."""
    rows = []
    for _ in range(batch):
        r = [rng.below(256) for _ in range(half)]
        rows.append([BOS] + r + r)
    return rows


class PackedStream:
    """Training sequences of seq_len + 1 tokens (inputs = [:-1], targets = [1:]).

    Document lengths are left-skewed: doc_len = FIXED_LEN + b, with the filler
    budget b drawn from an exponential distribution of mean `mean_filler`,
    redrawn while b > max_doc - FIXED_LEN. Whole documents are packed in order;
    when the next document does not fit the rest of the sequence is filled with
    a filler fragment and the document opens the next sequence (no document is
    split, so every question has its needle in context).

    A fraction `drill_fraction` of the sequences (decided by uniform() at the
    start of each sequence) are instead repeat drills (drill_document, cut at
    the sequence end): dense, short-range copying that grows the copy
    (induction) heads the passkey answer needs.
    """

    def __init__(self, seed, seq_len, mean_filler, max_doc=None, drill_fraction=0.0):
        self.rng = SplitMix64(seed)
        self.drill_fraction = drill_fraction
        self.n_drill_sequences = 0
        self.seq_len = seq_len
        self.mean_filler = mean_filler
        self.max_doc = seq_len if max_doc is None else max_doc
        self.pending = None
        self.distance_counts = {}
        self.doc_len_counts = {}
        self.n_docs = 0

    def _doc_len(self):
        limit = self.max_doc - FIXED_LEN
        while True:
            b = int(-self.mean_filler * math.log(1.0 - self.rng.uniform()))
            if b <= limit:
                return FIXED_LEN + b

    def _next_doc(self):
        if self.pending is not None:
            doc, self.pending = self.pending, None
            return doc
        return make_document(self.rng, self._doc_len())

    def next_sequence(self):
        """Returns (tokens [seq_len + 1], kind [seq_len + 1]).

        kind: 0 = ordinary token, ANSWER_DIGIT = a digit of the answer,
        NEEDLE_COPY_DIGIT = a digit of the key's second copy inside the needle.
        """
        n = self.seq_len + 1
        tokens = []
        mask = []
        if self.drill_fraction > 0.0 and self.rng.uniform() < self.drill_fraction:
            self.n_drill_sequences += 1
            while len(tokens) < n:
                t, k = drill_document(self.rng)
                tokens.extend(t)
                mask.extend(k)
            return tokens[:n], mask[:n]
        while len(tokens) < n:
            doc = self._next_doc()
            if len(tokens) + len(doc.tokens) > n:
                self.pending = doc
                rest = n - len(tokens)
                tokens.extend(filler_fragment(self.rng, rest))
                mask.extend([0] * rest)
                break
            start = len(tokens)
            tokens.extend(doc.tokens)
            mask.extend([0] * len(doc.tokens))
            for i in range(5):
                mask[start + doc.answer_key_pos + i] = ANSWER_DIGIT
                mask[start + doc.needle_copy_pos + i] = NEEDLE_COPY_DIGIT
            self._record(doc)
        return tokens, mask

    def _record(self, doc):
        self.n_docs += 1
        d = doc.distance
        self.distance_counts[d] = self.distance_counts.get(d, 0) + 1
        n = len(doc.tokens)
        self.doc_len_counts[n] = self.doc_len_counts.get(n, 0) + 1


def eval_documents(seed, doc_len, depths, n_per_depth):
    """Evaluation set for one length: one rng seeded with seed + doc_len, used in
    order over depths (outer loop) and samples (inner loop)."""
    rng = SplitMix64(seed + doc_len)
    out = []
    for depth in depths:
        for _ in range(n_per_depth):
            out.append((depth, make_document(rng, doc_len, depth)))
    return out
