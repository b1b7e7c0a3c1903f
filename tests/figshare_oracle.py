"""What a Figshare item covers, computed straight from the data set (not with the emulator's code).

Shared by the emulator's tests and the gateway's, so both check against one independent reading.
"""

from __future__ import annotations

from gateway.emulators.figshare_data import Article


def belongs(article: Article, item: str, item_id: int) -> bool:
    """Whether ``article``'s events count for the item ``item``/``item_id``."""
    if item == "article":
        return article.id == item_id
    if item == "author":
        return item_id in article.author_ids
    if item == "group":
        return article.group_id == item_id
    if item == "collection":
        return item_id in article.collection_ids
    if item == "project":
        return article.project_id == item_id
    raise ValueError(f"not an item kind: {item}")
