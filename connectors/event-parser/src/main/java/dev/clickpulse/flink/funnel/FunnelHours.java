package dev.clickpulse.flink.funnel;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;

/**
 * {@code funnel_hours(ts, reach_back_ms)}: the hours (epoch ms of their start) whose funnel
 * attempts an event at {@code ts} can take part in: its own hour as a first step, and
 * every hour with a start time in (ts - reach_back_ms, ts) as a later step (reach_back_ms
 * is the funnel window when the event matches a later step, 0 otherwise).
 */
@FunctionHint(output = @DataTypeHint("ROW<hour_ms BIGINT>"))
public class FunnelHours extends TableFunction<org.apache.flink.types.Row> {
    private static final long serialVersionUID = 1L;
    private static final long HOUR_MS = 3_600_000L;

    public void eval(Long ts, Long reachBackMs) {
        if (ts == null) {
            return;
        }
        long back = reachBackMs == null ? 0 : Math.max(0, reachBackMs);
        long first = Math.floorDiv(back > 0 ? ts - back + 1 : ts, HOUR_MS) * HOUR_MS;
        long last = Math.floorDiv(ts, HOUR_MS) * HOUR_MS;
        for (long h = first; h <= last; h += HOUR_MS) {
            collect(org.apache.flink.types.Row.of(h));
        }
    }
}
