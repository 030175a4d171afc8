// What Flink's JDBC sink (flink-connector-jdbc-postgres 4.0.0) does with a batch of rows:
// the PostgreSQL dialect's upsert statement, one addBatch() per row with the same setters
// as its converters (setTimestamp/setDate/setLong/setInt/setDouble/setString), then
// executeBatch() on an autocommit connection whose URL has reWriteBatchedInserts=true, so
// pgjdbc sends multi-row INSERT ... ON CONFLICT statements.
//
// Run with the PostgreSQL driver on the class path and the JVM in UTC (as Flink's are):
//   java -Duser.timezone=UTC -cp postgresql.jar FlinkJdbcUpsert.java JDBC_URL USER  (password: $PGPASSWORD)
// stdin, tab-separated, \N for NULL:
//   TABLE <table> <key,columns> <column:type,...>   type: ts (TIMESTAMP(3), UTC), date, bigint, int, double, text
//   <value> ...                                     one row per line
//   FLUSH                                           executeBatch()
// Prints the statement of each TABLE line; exits 1 with the driver's message on an error.
import java.sql.*;
import java.io.*;
import java.time.LocalDateTime;
import java.time.LocalDate;
import java.util.*;

public class FlinkJdbcUpsert {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], args[1], System.getenv("PGPASSWORD"))) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
            PreparedStatement ps = null;
            String[] types = null;
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] f = line.split("\t", -1);
                if (f[0].equals("TABLE")) {
                    if (ps != null) ps.close();
                    String[] cols = f[3].split(",");
                    String[] names = new String[cols.length];
                    types = new String[cols.length];
                    for (int i = 0; i < cols.length; i++) {
                        names[i] = cols[i].split(":")[0];
                        types[i] = cols[i].split(":")[1];
                    }
                    String sql = upsert(f[1], names, f[2].split(","));
                    System.out.println(sql);
                    ps = conn.prepareStatement(sql);
                } else if (f[0].equals("FLUSH")) {
                    ps.executeBatch();
                } else {
                    for (int i = 0; i < types.length; i++) set(ps, i + 1, types[i], f[i]);
                    ps.addBatch();
                }
            }
            if (ps != null) ps.close();
        } catch (SQLException e) {
            SQLException next = e.getNextException();
            System.err.println((next != null ? next : e).getMessage().split("\n")[0]);
            System.exit(1);
        }
    }

    // PostgresDialect.getUpsertStatement (v4.0.0): key columns are not in the SET list.
    static String upsert(String table, String[] fields, String[] keys) {
        Set<String> keySet = new HashSet<>(Arrays.asList(keys));
        StringJoiner update = new StringJoiner(", ");
        for (String f : fields) if (!keySet.contains(f)) update.add(f + "=EXCLUDED." + f);
        StringJoiner placeholders = new StringJoiner(", ");
        for (String f : fields) placeholders.add("?");
        String action = update.length() == 0 ? " DO NOTHING" : " DO UPDATE SET " + update;
        return "INSERT INTO " + table + "(" + String.join(", ", fields) + ") VALUES (" + placeholders + ")"
            + " ON CONFLICT (" + String.join(", ", keys) + ")" + action;
    }

    static void set(PreparedStatement ps, int i, String type, String v) throws SQLException {
        if (v.equals("\\N")) {
            ps.setNull(i, Types.NULL);
            return;
        }
        switch (type) {
            case "ts": ps.setTimestamp(i, Timestamp.valueOf(LocalDateTime.parse(v))); break;
            case "date": ps.setDate(i, java.sql.Date.valueOf(LocalDate.parse(v))); break;
            case "bigint": ps.setLong(i, Long.parseLong(v)); break;
            case "int": ps.setInt(i, Integer.parseInt(v)); break;
            case "double": ps.setDouble(i, Double.parseDouble(v)); break;
            default: ps.setString(i, v);
        }
    }
}
