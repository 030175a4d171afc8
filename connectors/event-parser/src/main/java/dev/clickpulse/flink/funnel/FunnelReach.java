package dev.clickpulse.flink.funnel;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

/**
 * {@code funnel_reach(ts, mask, hour_ms, window_ms, steps, segment)}: how far one user got
 * in one funnel with the attempts that start in one hour, as exact as the reference
 * (clickpulse.truth.funnel_progress), and updated with every event instead of waiting for
 * the watermark. Returns {@code ROW<reached, segment, ms>}: the deepest step any attempt
 * reached; the segment of the hour's first step-1 event, which the user is counted under in
 * breakdowns; and {@code ms[k]}, the shortest time from a step-1 event of the hour to step
 * k over the attempts that reach it (0 for step 1, NULL beyond {@code reached}).
 *
 * <p>{@code segment} is the event's breakdown values as one array, the same length for
 * every event of a query: country, device, plan and then the promoted properties of
 * sql/properties.yaml, in that file's order (sql/funnel_views.sql builds it). The first
 * step-1 event is the earliest; at the same millisecond, the one whose array is smallest
 * element by element (code-point order), i.e. the smallest country, then device, plan and
 * each promoted property. An array rather than one joined string: property values are any
 * text, so no separator is safe, and the tie-break must be exactly the reference's.
 *
 * <p>Grouped by site, user and hour of attempt start; every event that can serve those
 * attempts arrives with {@code mask} bit k-1 set when it matches step k. An attempt starts
 * at every step-1 event of the hour and reaches step k when events matching steps 2..k
 * follow, each strictly later than the one before and less than {@code window_ms} after
 * the start. Taking the earliest such event at each step can only leave more room for the
 * next (and gives the attempt's shortest time), so an attempt's future depends only on
 * (step, time of its last event, deadline): attempts that agree on the first two keep only
 * the latest deadline, which is also the latest start, hence the shortest time. Events in
 * time order cost amortised O(steps); one that arrives behind an earlier one replays the
 * key's events in time order (events are at most the watermark delay out of order, so this
 * is rare).
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = FunnelAttempts.class,
                rawSerializer = FunnelAttemptsSerializer.class),
        output = @DataTypeHint("ROW<reached INT, segment ARRAY<STRING>, ms ARRAY<BIGINT>>"))
public class FunnelReach extends AggregateFunction<Row, FunnelAttempts> {
    private static final long serialVersionUID = 1L;

    @Override
    public FunnelAttempts createAccumulator() {
        return new FunnelAttempts();
    }

    public void accumulate(FunnelAttempts acc, Long ts, Integer mask, Long hourMs, Long windowMs, Integer steps,
                           String[] segment) {
        if (ts == null || mask == null || mask == 0 || hourMs == null || windowMs == null || steps == null) {
            return;
        }
        // a copy: the accumulator keeps it, and the runtime's converter need not hand out a fresh array per row
        acc.add(ts, mask, hourMs, windowMs, steps, segment == null ? new String[0] : segment.clone());
    }

    public void retract(FunnelAttempts acc, Long ts, Integer mask, Long hourMs, Long windowMs, Integer steps,
                        String[] segment) {
        if (ts == null || mask == null || mask == 0 || !acc.configured()) {
            return;
        }
        acc.remove(ts, mask, segment == null ? new String[0] : segment);
    }

    @Override
    public Row getValue(FunnelAttempts acc) {
        int steps = acc.configured() ? acc.steps : 0;
        Long[] ms = new Long[steps];
        for (int k = 0; k < steps; k++) {
            ms[k] = acc.best[k] == FunnelAttempts.NONE ? null : acc.best[k];
        }
        String[] seg = acc.firstSeg;
        return Row.of(acc.reached(), seg == null ? null : seg.clone(), ms);
    }
}
