package dev.ddbpipe.reader;

import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Map;
import org.apache.hadoop.dynamodb.DynamoDBItemWritable;
import org.apache.hadoop.dynamodb.DynamoDBUtil;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * The connector's item writable whose {@code toString()} - the export line the partition writer
 * receives through the pipe - is written straight to gson's {@link JsonWriter} instead of through
 * {@code Gson.toJson}, which first builds a {@code JsonObject} tree of every attribute
 * ({@code AttributeValueSerializer}) and then writes it. Same writer, same escaping (no HTML
 * escaping, as the connector's Gson), same order of attributes, same type keys ("s", "n", "bOOL",
 * "nULL", "sS", "nS", "bS", "l", "m", "b"), base64 by the connector's own encoder: the line is
 * byte-identical, which a test checks against the connector's {@code toString()} for every type.
 */
public class ItemLineWritable extends DynamoDBItemWritable {

  @Override
  public String toString() {
    Map<String, AttributeValue> item = getItem();
    if (item == null) {
      return "null";
    }
    StringWriter out = new StringWriter(256);
    try {
      JsonWriter json = new JsonWriter(out);
      json.setLenient(true);
      json.setHtmlSafe(false);
      json.setSerializeNulls(false);
      writeMap(json, item);
      json.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }

  private static void writeMap(JsonWriter json, Map<String, AttributeValue> map)
      throws IOException {
    json.beginObject();
    for (Map.Entry<String, AttributeValue> entry : map.entrySet()) {
      json.name(entry.getKey());
      writeValue(json, entry.getValue());
    }
    json.endObject();
  }

  private static void writeValue(JsonWriter json, AttributeValue value) throws IOException {
    if (value == null) {
      json.nullValue();
      return;
    }
    json.beginObject();
    switch (value.type()) {
      case B:
        json.name("b").value(base64(value.b()));
        break;
      case BOOL:
        json.name("bOOL").value(value.bool());
        break;
      case BS:
        json.name("bS").beginArray();
        for (SdkBytes bytes : value.bs()) {
          json.value(base64(bytes));
        }
        json.endArray();
        break;
      case L:
        json.name("l").beginArray();
        for (AttributeValue element : value.l()) {
          writeValue(json, element);
        }
        json.endArray();
        break;
      case M:
        json.name("m");
        writeMap(json, value.m());
        break;
      case N:
        json.name("n").value(value.n());
        break;
      case NS:
        json.name("nS").beginArray();
        for (String number : value.ns()) {
          json.value(number);
        }
        json.endArray();
        break;
      case NUL:
        json.name("nULL").value(value.nul());
        break;
      case S:
        json.name("s").value(value.s());
        break;
      case SS:
        json.name("sS").beginArray();
        for (String string : value.ss()) {
          json.value(string);
        }
        json.endArray();
        break;
      default:
        break;
    }
    json.endObject();
  }

  private static String base64(SdkBytes bytes) {
    return bytes == null ? null : DynamoDBUtil.base64EncodeByteArray(bytes.asByteArray());
  }
}
