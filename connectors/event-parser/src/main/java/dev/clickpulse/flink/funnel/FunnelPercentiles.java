package dev.clickpulse.flink.funnel;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

/**
 * {@code funnel_percentiles(ms)}: the exact median and 90th percentile, in seconds, of the
 * durations (ms) in the group, as PostgreSQL's {@code percentile_cont(0.5)} and
 * {@code percentile_cont(0.9)} compute them (linear interpolation between the two nearest
 * ranks). Takes retractions: each user's time can be rewritten as faster attempts appear.
 * Returns {@code ROW<median_s DOUBLE, p90_s DOUBLE>}.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = Durations.class,
                rawSerializer = DurationsSerializer.class),
        output = @DataTypeHint("ROW<median_s DOUBLE, p90_s DOUBLE>"))
public class FunnelPercentiles extends AggregateFunction<Row, Durations> {
    private static final long serialVersionUID = 1L;

    @Override
    public Durations createAccumulator() {
        return new Durations();
    }

    public void accumulate(Durations acc, Long ms) {
        if (ms != null) {
            acc.add(ms);
        }
    }

    public void retract(Durations acc, Long ms) {
        if (ms != null) {
            acc.remove(ms);
        }
    }

    @Override
    public Row getValue(Durations acc) {
        return Row.of(seconds(acc.percentile(0.5)), seconds(acc.percentile(0.9)));
    }

    private static Double seconds(Double ms) {
        return ms == null ? null : ms / 1000.0;
    }
}
