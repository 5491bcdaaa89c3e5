"""auto_heal, on the `sync` path: Docker says what happened, the worker repairs it.

Zun's rule (heal_with_rebuilding_container): a container whose Docker container has
disappeared (one that never had a Docker container is not healed), with auto_heal set and a status that allows a rebuild, gets a `rebuild`
action: recreated from its image under the same uuid, started again if it was running.
Docker's restart policies do not act on a failing healthcheck, so a running auto_heal
container that Docker reports unhealthy is restarted, as a `reboot` action. Each heal
records Zun's action events, so the history says who repaired what and when."""
from __future__ import annotations

import logging

from commands.states import REBUILDING, RUNNING, VALID_STATES

from .docker_driver import Observed

log = logging.getLogger(__name__)

UNHEALTHY = "unhealthy"


def heal(step, obs: Observed) -> bool:
    """Repair the container if auto_heal asks for it; True when a heal was recorded."""
    agg = step.agg
    if not agg.doc.get("auto_heal"):
        return False
    if not obs.exists and agg.doc.get("container_id") and agg.status in VALID_STATES["rebuild"]:
        log.info("auto_heal: recreating %s (its Docker container disappeared)", step.uuid)
        rebuild_missing(step)
        return True
    if obs.exists and obs.status == RUNNING and obs.health == UNHEALTHY:
        log.info("auto_heal: restarting unhealthy %s", step.uuid)
        restart_unhealthy(step)
        return True
    return False


def rebuild_missing(step) -> None:
    """A failure raises Handled (recorded: Error with the reason), like any action."""
    agg = step.agg
    run = agg.status == RUNNING
    with step.event("rebuild", "compute__do_container_rebuild", finish_action=not run):
        agg.update({"status": REBUILDING, "status_reason": None})
        step.driver.ensure_image(agg.doc["image"], agg.doc.get("image_pull_policy"))
        step.observed(step.driver.create(agg.doc), task_state=None)
    if run:
        with step.event("rebuild", "compute__do_container_start"):
            step.observed(step.driver.start(step.uuid), task_state=None)


def restart_unhealthy(step) -> None:
    with step.event("reboot", "compute__do_container_reboot"):
        step.observed(step.driver.reboot(step.uuid, 10), task_state=None)
