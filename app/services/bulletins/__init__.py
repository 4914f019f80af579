"""The monthly bulletin (月月通报): frozen once per (node, month), read, downloaded as XLSX and PDF.

Modules: `content` (what a bulletin says, computed afresh), `scoring` (colours and scores),
`freeze` (claim, freeze, tell), `reads` (who may read which, the list), `xlsx` and `pdf` (the
downloads), `tasks` (the Huey tasks that freeze a month, or one bulletin, and render PDFs in the background).
"""

from app.services.bulletins.freeze import (children_of, claim, claim_due, complete, content_hash, due_month, mark_failed,
                                           nodes_with_children, parse_month, readers_told, retry_claim, tell, to_freeze)

__all__ = ["children_of", "claim", "claim_due", "complete", "content_hash", "due_month", "mark_failed", "nodes_with_children",
           "parse_month", "readers_told", "retry_claim", "tell", "to_freeze"]
