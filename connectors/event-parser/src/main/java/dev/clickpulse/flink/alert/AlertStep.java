package dev.clickpulse.flink.alert;

import java.time.LocalDateTime;
import java.time.ZoneOffset;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * {@code alert_step(breaking, value, low, high, minute_start, for_minutes, cooldown_minutes)}:
 * the state machine of one alert rule for one site, run as an OVER aggregate
 * ({@code PARTITION BY site_id ORDER BY window_time ROWS UNBOUNDED PRECEDING}) over the
 * site's judged minutes in event-time order (sql/alerts, clickpulse.alerts.stream).
 *
 * <p>The rule fires when {@code for_minutes} minutes in a row break it, and resolves when
 * {@code cooldown_minutes} minutes in a row do not (so a value that flaps around the band
 * raises one alert, not one per flap). From the first breaking minute of a run until the
 * resolve, minutes are judged against the band of that first minute ({@code low},
 * {@code high}; NULL = no edge), not the current one: the trailing baseline soon fills
 * with the incident itself (a site at zero would make zero look normal).
 *
 * <p>The value is {@code null} for a minute that changes nothing, otherwise
 * {@code "<firing|resolved>:<episode start ms>:<fired at ms>:<low>:<high>"} (UTC epoch ms;
 * the band judged against), where the episode starts at the first minute of the breaking
 * run that fired: the alert's id is derived from it, so the resolve carries the fire's id.
 *
 * <p>The accumulator is the OVER operator's keyed state, checkpointed with the job: a
 * restored job continues the machine where the checkpoint left it and emits no transition
 * a second time for minutes it had already judged.
 */
@FunctionHint(output = @DataTypeHint("STRING"))
public class AlertStep extends AggregateFunction<String, AlertStep.Acc> {
    private static final long serialVersionUID = 1L;

    /** POJO accumulator (Flink derives its serializer from the public fields). */
    public static class Acc {
        public boolean firing;
        public int badRun;
        public int okRun;
        public long badStart = -1L;
        public long episodeStart = -1L;
        public long firedAt = -1L;
        public boolean frozen;
        public Double frozenLow;
        public Double frozenHigh;
        public String transition;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Boolean breakingNow, Double value, Double low, Double high,
                           LocalDateTime minuteStart, Integer forMinutes, Integer cooldownMinutes) {
        acc.transition = null;
        if (minuteStart == null) {
            return;
        }
        Boolean breaking = breakingNow;
        if (acc.frozen && value != null) {
            breaking = (acc.frozenLow != null && value < acc.frozenLow)
                    || (acc.frozenHigh != null && value > acc.frozenHigh);
        }
        if (breaking == null) {
            return;   // a minute the rule cannot judge (warming up, too few counts) changes nothing
        }
        long minuteStartMs = minuteStart.toInstant(ZoneOffset.UTC).toEpochMilli();
        if (breaking) {
            acc.okRun = 0;
            if (acc.badRun == 0) {
                acc.badStart = minuteStartMs;
                if (!acc.frozen) {
                    acc.frozen = true;
                    acc.frozenLow = low;
                    acc.frozenHigh = high;
                }
            }
            acc.badRun++;
            if (!acc.firing && acc.badRun >= Math.max(1, forMinutes == null ? 1 : forMinutes)) {
                acc.firing = true;
                acc.episodeStart = acc.badStart;
                acc.firedAt = minuteStartMs + 60_000L;   // the end of the minute that fired
                acc.transition = emit("firing", acc);
            }
        } else {
            acc.badRun = 0;
            acc.okRun++;
            if (acc.firing && acc.okRun >= Math.max(1, cooldownMinutes == null ? 1 : cooldownMinutes)) {
                acc.firing = false;
                acc.transition = emit("resolved", acc);
            }
            if (!acc.firing) {
                acc.frozen = false;
                acc.frozenLow = null;
                acc.frozenHigh = null;
            }
        }
    }

    private static String emit(String state, Acc acc) {
        return state + ":" + acc.episodeStart + ":" + acc.firedAt + ":" + (acc.frozenLow == null ? "" : acc.frozenLow)
                + ":" + (acc.frozenHigh == null ? "" : acc.frozenHigh);
    }

    @Override
    public String getValue(Acc acc) {
        return acc.transition;
    }
}
