"""Cost arithmetic: rates from readings, and $ integrated over time (mid-hour changes, midnights, DST)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from cockpit.config import Limit  # noqa: F401  (config first: it loads fleet_config)
from cockpit.cost import CostMeter, Rates, cloud_rates, day_bounds, hourly_rates, month_bounds, rented_nodes
from cockpit.fleet_config import CostConfig, Floor
from cockpit.fleet_model import Instance, InstancesReading
from cockpit.model import GpuReading

T = datetime(2026, 1, 15, 10, 0, tzinfo=UTC).timestamp()


def inst(ident: int, status: str = "running", dph: float = 1.0, util: float | None = 90.0, gpus: int = 1,
         storage: float = 0.01, label: str | None = None) -> Instance:  # fmt: skip
    return Instance(id=ident, label=label, actual_status=status, dph_total=dph, gpu_util=util, num_gpus=gpus,
                    storage_usd_h=storage)  # fmt: skip


def gpu(index: int, watts: float | None, util: float | None = 90.0) -> GpuReading:
    return GpuReading(index=index, power_w=watts, util_pct=util)


# -- rates -------------------------------------------------------------------------------------


def test_cloud_rates_bill_gpus_only_while_running_or_frozen() -> None:
    fleet = [
        inst(1, dph=1.0, gpus=2),
        inst(2, dph=0.5, util=2.0),  # idle but billed
        inst(3, status="frozen", dph=0.25, util=None),  # GPU charges apply, utilization unknown
        inst(4, status="stopped", dph=0.8, storage=0.02),  # disk only
        inst(5, status="exited", dph=0.3, storage=0.01),
    ]
    billed, storage, gpus, busy, idle = cloud_rates(fleet, 10.0)
    assert billed == pytest.approx(1.75) and storage == pytest.approx(0.03)
    assert (gpus, busy) == (4, 2) and idle == pytest.approx(0.75)


def test_energy_is_gpu_draw_plus_base_draw_times_the_kwh_price() -> None:
    cost = CostConfig(usd_per_kwh=0.30, base_watts_per_node=150, base_watts_by_node={"mac-studio": 60})
    gpus = {"lambda-h100": (gpu(0, 700.0), gpu(1, 650.0, util=3.0)), "mac-studio": (), "gpu-node-2": None}
    rates = hourly_rates(T, [], gpus, cost)
    watts = 150 + 1350 + 60 + 150
    assert rates.energy_watts == pytest.approx(watts)
    assert rates.energy_usd_h == pytest.approx(watts / 1000 * 0.30)
    assert (rates.gpus, rates.busy_gpus) == (2, 1)
    assert rates.notes == ("no GPU power from gpu-node-2",)


def test_rented_nodes_pay_no_energy() -> None:
    fleet = [inst(28889768, label="vast-3090-64cpu"), inst(28890015)]
    assert rented_nodes(["mac-studio", "VAST-3090-64CPU", "vast-28890015"], fleet) == {
        "VAST-3090-64CPU",
        "vast-28890015",
    }
    cost = CostConfig(usd_per_kwh=1.0, base_watts_per_node=1000)
    rates = hourly_rates(T, fleet, {"mac-studio": (), "vast-28890015": (gpu(0, 300.0),)}, cost)
    assert rates.energy_usd_h == pytest.approx(1.0)  # mac-studio's base only
    assert rates.cloud_usd_h == pytest.approx(2.0) and rates.total_usd_h == pytest.approx(3.0)


def test_stale_cloud_data_is_used_and_said() -> None:
    reading = InstancesReading(at=T, instances=(inst(1),), ok=False, error="HTTP 500", data_at=T - 180)
    rates = hourly_rates(T, reading, {}, None)
    assert (
        rates.cloud_usd_h == 1.0 and rates.notes == ("cloud data 3 min old",) and rates.energy_usd_h is None
    )


def test_cost_config_validation() -> None:
    with pytest.raises(ValidationError):
        CostConfig(usd_per_kwh=-1)
    with pytest.raises(ValidationError, match="between 0 and 100000"):
        CostConfig(usd_per_kwh=0.3, base_watts_by_node={"x": -5})
    with pytest.raises(ValidationError, match="below critical"):
        Floor(warning=5, critical=10)


# -- integration -------------------------------------------------------------------------------


def run(
    meter: CostMeter, start: float, minutes: int, rate: float | list[float], step_s: float = 60.0
) -> None:
    for n in range(minutes + 1):
        value = rate[n] if isinstance(rate, list) else rate
        meter.add(start + n * step_s, value)


def test_constant_rate_for_two_hours() -> None:
    meter = CostMeter(tz=UTC)
    run(meter, T, 120, 3.0)
    today, month = meter.spent()
    assert today == pytest.approx(6.0) and month == pytest.approx(6.0)


def test_instance_stopped_mid_hour_is_billed_for_the_time_it_ran() -> None:
    """$1/h GPUs + $0.01/h disk from 10:00; stopped at 10:30 (disk only after): $0.51 for the hour."""
    meter = CostMeter(tz=UTC)
    rates = [1.01 if minute < 30 else 0.01 for minute in range(61)]
    run(meter, T, 60, rates)
    assert meter.spent()[0] == pytest.approx(0.5 * 1.01 + 0.5 * 0.01)


def test_instance_started_mid_hour_with_irregular_cycles() -> None:
    meter = CostMeter(tz=UTC)
    cycles = [(0, 0), (7, 0), (500, 0), (1100, 0), (1800, 2), (1803, 2), (2400, 2), (3000, 2), (3600, 2)]
    for at, rate in cycles:
        meter.add(T + at, rate)
    assert meter.spent()[0] == pytest.approx(1.0)  # 2 $/h from 10:30 to 11:00


def test_midnight_and_month_end_split_the_sums() -> None:
    meter = CostMeter(tz=UTC)
    start = datetime(2026, 1, 31, 23, 30, tzinfo=UTC).timestamp()
    run(meter, start, 60, 2.0)
    today, month = meter.spent()
    assert today == pytest.approx(1.0) and month == pytest.approx(1.0)  # 00:00-00:30 on 1 February


def test_a_gap_longer_than_max_gap_is_not_billed_from_a_guess() -> None:
    meter = CostMeter(tz=UTC, max_gap_s=600)
    meter.add(T, 6.0)
    meter.add(T + 3 * 3600, 6.0)  # the cockpit was closed for three hours
    assert meter.spent()[0] == pytest.approx(1.0)  # ten minutes at $6/h


def test_projection_fills_the_unobserved_day_at_the_current_rate() -> None:
    meter = CostMeter(tz=UTC)
    start = datetime(2026, 1, 15, 0, 0, tzinfo=UTC).timestamp()
    run(meter, start, 360, 1.0)  # 00:00-06:00 at $1/h
    reading = meter.observe(Rates(at=start + 6 * 3600 + 60, cloud_usd_h=2.0))
    assert reading.today_usd == pytest.approx(6.0 + 1 / 60)
    assert reading.today_projection_usd == pytest.approx(6.0 + 1 / 60 + 2.0 * (24 - 6 - 1 / 60))
    days_in_january = 31
    assert reading.month_projection_usd == pytest.approx(
        reading.month_usd + 2.0 * (days_in_january * 24 - 6 - 1 / 60)
    )


def test_dst_day_is_23_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    moment = datetime(2026, 3, 29, 12, 0, tzinfo=berlin).timestamp()
    start, end = day_bounds(moment, berlin)
    assert end - start == 23 * 3600
    reading = CostMeter(tz=berlin).observe(Rates(at=start, cloud_usd_h=1.0))
    assert reading.today_projection_usd == pytest.approx(23.0)


def test_bounds_in_local_time() -> None:
    start, end = month_bounds(T, UTC)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 1, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(end, UTC) == datetime(2026, 2, 1, tzinfo=UTC)
    start, end = month_bounds(datetime(2026, 12, 15, tzinfo=UTC).timestamp(), UTC)
    assert datetime.fromtimestamp(end, UTC) == datetime(2027, 1, 1, tzinfo=UTC)
    local_start, local_end = day_bounds(T)
    assert local_start <= T < local_end


def test_clock_going_backwards_bills_nothing_twice() -> None:
    meter = CostMeter(tz=UTC)
    meter.add(T, 10.0)
    meter.add(T + 360, 10.0)
    meter.add(T + 60, 10.0)
    assert meter.spent()[0] == pytest.approx(1.0)


def test_reading_and_cost_per_busy_gpu_hour() -> None:
    meter = CostMeter(tz=UTC, history_step_s=60)
    fleet = [inst(1, dph=2.0, gpus=2), inst(2, dph=1.0, util=0.0, gpus=2)]
    rates = hourly_rates(T, fleet, {"mac": (gpu(0, 400.0),)}, CostConfig(usd_per_kwh=0.25))
    reading = meter.observe(rates)
    assert reading.total_usd_h == pytest.approx(3.1)
    assert (reading.gpus, reading.busy_gpus) == (5, 3)
    assert reading.usd_per_busy_gpu_hour == pytest.approx(3.1 / 3)
    assert reading.idle_usd_h == pytest.approx(1.0)
    nobody = meter.observe(hourly_rates(T + 30, [inst(3, util=0.0)], {}, None))
    assert nobody.usd_per_busy_gpu_hour is None
    assert meter.history() == ((T, pytest.approx(3.1)),)  # the second point is within the same minute
