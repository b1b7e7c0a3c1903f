"""``stats-gateway serve --demo``: both emulators on loopback, and what to paste into GraphiQL."""

from __future__ import annotations

from types import TracebackType

from gateway.emulators import eras_data, figshare_data
from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.figshare import build_figshare_emulator
from gateway.emulators.server import LoopbackServer
from gateway.examples import EXAMPLES
from gateway.settings import Settings


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in ids)


class Demo:
    """The two emulators, serving until the ``with`` block ends."""

    def __init__(self, eras: LoopbackServer, figshare: LoopbackServer) -> None:
        self.eras = eras
        self.figshare = figshare

    @classmethod
    def start(cls) -> Demo:
        eras = build_eras_emulator().serve()
        figshare = build_figshare_emulator().serve()
        return cls(eras, figshare)

    def settings(self, base: Settings) -> Settings:
        return base.replace(eras_url=self.eras.url, figshare_url=self.figshare.url)

    def banner(self, host: str, port: int) -> str:
        tokens = "\n".join(
            f"    Authorization: Bearer {token}   ({who})" for token, who in eras_data.DEMO_TOKENS.items()
        )
        institutions = "\n".join(
            f"    X-Figshare-Authorization: {figshare_data.basic_header(u, p)}"
            f'   (figshare(institution: "{slug}"))'
            for slug, (u, p) in figshare_data.DEMO_INSTITUTIONS.items()
        )
        groups = ", ".join(f"{gid} {vis}" for gid, vis in eras_data.DEMO_GROUPS.items())
        return f"""
Stats gateway demo: both upstreams are emulated on this machine with synthetic data.

  GraphiQL:  http://{host}:{port}/graphql
  ERAS emulator:     {self.eras.url}
  Figshare emulator: {self.figshare.url}

Example query (GraphiQL opens with it, and with a tab for each of the README's examples):
{EXAMPLES[0].query}

Demo volunteers (user ids {", ".join(str(u) for u in eras_data.DEMO_USER_IDS)}). GraphiQL's Headers tab
comes filled with the first token and lboro's credentials; put another there to be someone else:
{tokens}

User groups: {groups}
Projects: {_ids(eras_data.DEMO_PROJECT_IDS)}
Figshare articles: {_ids(figshare_data.DEMO_ARTICLE_IDS)}; groups: {_ids(figshare_data.DEMO_GROUP_IDS)}
Institution credentials:
{institutions}
"""

    def stop(self) -> None:
        self.eras.stop()
        self.figshare.stop()

    def __enter__(self) -> Demo:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
