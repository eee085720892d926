"""How a run gets its parameters (spec 2.1), in one place for every caller: a clock's fire,
a catch-up or backfill run, a manual run (CLI, API, UI, child run), `clockd check` and
`clockd next`.

A `Resolver` is built once per clock (or once for manual runs without a clock) and answers
for any fire of it:

>>> from datetime import UTC, datetime
>>> from clocks.parameters import ParameterSet
>>> params = ParameterSet.from_declarations({
...     "x": {"type": "integer"},
...     "day": {"type": "date", "default": "{{ scheduled_time.subtract(days=1).to_date_string() }}"},
... })
>>> resolver = Resolver("report", params, clock="small", timezone="UTC", values={"x": 9})
>>> resolver.resolve(datetime(2026, 3, 1, tzinfo=UTC)).values
{'x': 9, 'day': '2026-02-28'}
>>> resolver.resolve(datetime(2026, 3, 1, tzinfo=UTC), given={"x": 3}).values
{'x': 3, 'day': '2026-02-28'}

Whether anything renders, and whether a template mentions `run_id` (then the values are
resolved again once the run has its id), is worked out here once: with nothing to render
no pendulum time is built, which counts when 1,000 clocks fire at the same second.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clocks.templates import is_dynamic

if TYPE_CHECKING:
    from clocks.base import Clock
    from clocks.parameters import ParameterSet, ResolvedParameters

__all__ = ["Resolver"]


class Resolver:
    """The parameters of the runs of job `job` through one clock: the job's defaults, then
    the clock's `values` (both from the config: their templates are rendered), then what
    is given at trigger time (data: never rendered).

    `clock` and `timezone` are the clock's name and zone; a manual run without a clock has
    `clock=None` and the daemon's zone.
    """

    __slots__ = ("clock", "job", "parameters", "renders", "timezone", "uses_run_id", "values")

    def __init__(
        self,
        job: str,
        parameters: ParameterSet,
        *,
        clock: str | None = None,
        timezone: str = "UTC",
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self.job = job
        self.parameters = parameters
        self.clock = clock
        self.timezone = timezone
        self.values: Mapping[str, Any] = values if values is not None else {}
        # The config's templates a fire renders: defaults the clock does not replace, and the
        # clock's own dynamic values.
        config = {p.name: p.default for p in parameters if p.is_dynamic}
        config.update(self.values)
        templates = [value for value in config.values() if is_dynamic(value)]
        self.renders = bool(templates)
        # A textual test, on the safe side: a template that only seems to mention run_id is
        # rendered twice, never one that uses it once.
        self.uses_run_id = any("run_id" in template for template in templates)

    @classmethod
    def for_clock(cls, job: str, parameters: ParameterSet, clock: Clock) -> Resolver:
        """The resolver of `clock`'s fires: its parameters, name and time zone."""
        return cls(
            job,
            parameters,
            clock=clock.name,
            timezone=clock.timezone,
            values=clock.parameter_defaults,
        )

    def resolve(
        self,
        scheduled_time: datetime,
        *,
        run_id: int | None = None,
        given: Mapping[str, Any] | None = None,
    ) -> ResolvedParameters:
        """The values of a run at `scheduled_time` (aware; for a manual run, the trigger
        time); ParameterError with every problem. `given`: the trigger-time values."""
        if self.renders:
            from clocks.parameters import render_context

            context = render_context(
                scheduled_time=scheduled_time,
                timezone=self.timezone,
                job=self.job,
                clock=self.clock,
                run_id=run_id,
            )
        else:
            context = {}  # nothing to render: no pendulum time
        return self.parameters.resolve(self.values, context=context, given=given)
