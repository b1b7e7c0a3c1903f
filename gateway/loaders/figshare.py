"""Figshare groups' public article counts: every group of an operation counted in one POST."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from gateway.upstream.figshare import FigshareAPI


class ArticleCountLoader:
    """``await loader.count(group_id, path)``; one ``POST /count/articles`` per turn."""

    def __init__(self, api: FigshareAPI) -> None:
        self.api = api
        self._loader: DataLoader[tuple[str, tuple[str | int, ...]], int] = DataLoader(
            load_fn=self._dispatch, cache=False
        )

    async def count(self, group_id: str, path: tuple[str | int, ...] = ()) -> int:
        return await self._loader.load((group_id, path))

    async def _dispatch(self, asks: Sequence[tuple[str, tuple[str | int, ...]]]) -> list[int | BaseException]:
        ids = sorted({g for g, _ in asks}, key=int)
        try:
            answer = await self.api.count_articles(ids, [list(p) for _, p in asks if p])
        except Exception as exc:
            return [exc] * len(asks)
        # Groups the upstream does not list have no public articles.
        return [answer.get(g, 0) for g, _ in asks]
