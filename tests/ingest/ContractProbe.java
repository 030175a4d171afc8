package dev.clickpulse.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.data.RowData;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Test probe (tests/ingest/test_contract.py): the pipeline's own record decoder, fed one
 * base64-encoded Kafka record per stdin line, answers one JSON line per record: the reason
 * it is invalid (or null), and the normalised and derived fields of a valid event.
 * Compiled next to the event-parser sources, so it sees the package-private classes.
 */
public final class ContractProbe {
    public static void main(String[] args) throws Exception {
        long maxFutureMs = Long.parseLong(args[0]);
        EventColumn[] columns = {EventColumn.ERROR, EventColumn.COUNTRY, EventColumn.DEVICE, EventColumn.TICK,
            EventColumn.UTM_SOURCE, EventColumn.UTM_MEDIUM, EventColumn.UTM_CAMPAIGN, EventColumn.REFERRER_DOMAIN};
        EventDeserializationSchema decoder = new EventDeserializationSchema(columns, false, maxFutureMs, null);
        ObjectMapper json = new ObjectMapper();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            RowData row = decoder.deserialize(Base64.getDecoder().decode(line.trim()));
            ObjectNode o = json.createObjectNode();
            o.put("error", row.isNullAt(0) ? null : row.getString(0).toString());
            o.put("country", row.isNullAt(1) ? null : row.getString(1).toString());
            o.put("device", row.isNullAt(2) ? null : row.getString(2).toString());
            o.put("tick", !row.isNullAt(3) && row.getBoolean(3));
            for (int i = 4; i < columns.length; i++) {
                o.put(columns[i].column, row.isNullAt(i) ? null : row.getString(i).toString());
            }
            out.println(json.writeValueAsString(o));
        }
    }
}
