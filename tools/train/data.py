"""Seeded data generator for the shiftrope passkey model.

Everything here is deterministic and fully specified so that the C++ passkey
evaluator can rebuild the exact same prompts (see tools/train/README.md):

* tokens are bytes (id = byte value), BOS = 256, EOS = 257;
* random numbers come from splitmix64 (below), never from Python's `random`;
* a filler sentence is "The {adj} {noun} {verb} the {adj} {place}." with
  every word drawn as `WORDS[next_u64() % 8]`, in that order;
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


def sentence(rng):
    """One filler sentence; five draws in the order adj, noun, verb, adj, place."""
    adj1 = ADJECTIVES[rng.below(len(ADJECTIVES))]
    noun = NOUNS[rng.below(len(NOUNS))]
    verb = VERBS[rng.below(len(VERBS))]
    adj2 = ADJECTIVES[rng.below(len(ADJECTIVES))]
    place = PLACES[rng.below(len(PLACES))]
    return "The %s %s %s the %s %s." % (adj1, noun, verb, adj2, place)


def needle(key):
    return " The pass key is %d. Remember it. %d is the pass key." % (key, key)


def answer(key):
    return " %d." % key


# Tokens of a document that are not filler: BOS, instruction, needle, question, answer, EOS.
# The key always has 5 digits, so this is a constant (200).
FIXED_LEN = 1 + len(INSTRUCTION) + len(needle(KEY_MIN)) + len(QUESTION) + len(answer(KEY_MIN)) + 1


def draw_filler(rng, budget):
    """Sentences, each prefixed with one space, while the total stays <= budget bytes.

    The sentence that would overflow the budget is drawn (its five draws are
    consumed) and discarded, then drawing stops.
    """
    parts = []
    used = 0
    while True:
        s = " " + sentence(rng)
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

    Draw order: key, then filler sentences (see draw_filler, budget
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
    """Exactly n tokens: BOS followed by filler sentences cut at n (used to pad a packed sequence)."""
    out = [BOS]
    while len(out) < n:
        out.extend((" " + sentence(rng)).encode("ascii"))
    return out[:n]


class PackedStream:
    """Training sequences of seq_len + 1 tokens (inputs = [:-1], targets = [1:]).

    Document lengths are left-skewed: doc_len = FIXED_LEN + b, with the filler
    budget b drawn from an exponential distribution of mean `mean_filler`,
    redrawn while b > max_doc - FIXED_LEN. Whole documents are packed in order;
    when the next document does not fit the rest of the sequence is filled with
    a filler fragment and the document opens the next sequence (no document is
    split, so every question has its needle in context).
    """

    def __init__(self, seed, seq_len, mean_filler, max_doc=None):
        self.rng = SplitMix64(seed)
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
        """Returns (tokens [seq_len + 1], answer_mask [seq_len + 1]): mask marks answer key digits."""
        n = self.seq_len + 1
        tokens = []
        mask = []
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
                mask[start + doc.answer_key_pos + i] = 1
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
