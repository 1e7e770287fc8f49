"""Writes for downloads, one module per capability:

- `catalog`: items with their files, members' EA uploads, staff review (Event.EA_REVIEWED);
- `items`: one item charged per download (metered) or once (unlock);
- `jobs`: multi-song jobs, hold at start → capture of what was delivered (Event.DOWNLOAD_JOB_QUEUED);
- `job_lease`, `job_sweeps`: a running job's lease, and the sweeps that run again a job whose
  worker died and fail one that may not run again;
- `archive`: a job's zip in private storage;
- `free_tier`: free downloads and the ads that add to them.

Balances move only through `wallet.services`. The top-level money operations open
`transaction.atomic(durable=True)` around their own rows and the wallet calls. Lock order, as
everywhere: our domain row (job, free allowance) first, then the hold, then accounts.
Callers import the public names from here.
"""

from .archive import archive_name
from .catalog import ea_reject, ea_submit, ea_verify, file_digest, item_create, unique_slug
from .free_tier import ad_complete
from .items import ItemDelivery, item_download
from .job_sweeps import jobs_fail_stale, jobs_requeue_lapsed
from .jobs import JobStart, charge_for, job_fail, job_run, job_start

__all__ = [
    "ItemDelivery",
    "JobStart",
    "ad_complete",
    "archive_name",
    "charge_for",
    "ea_reject",
    "ea_submit",
    "ea_verify",
    "file_digest",
    "item_create",
    "item_download",
    "job_fail",
    "job_run",
    "job_start",
    "jobs_fail_stale",
    "jobs_requeue_lapsed",
    "unique_slug",
]
