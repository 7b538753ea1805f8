using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>The small JSON files beside the tensors (index, config.json, quantize_config.json), read with bounds and typed errors.</summary>
    internal static class JsonFiles
    {
        /// <summary>Far above any real index or config; keeps a mistaken path from being read whole.</summary>
        private const long MaxBytes = SafetensorsFile.MaxHeaderBytes;

        /// <summary>The file's root object, with every object in it checked for duplicate keys (the document model would keep both silently).</summary>
        public static JsonDocument ReadObject(string path)
        {
            byte[] bytes;
            try
            {
                long length = new FileInfo(path).Length;
                if (length > MaxBytes)
                    throw new CheckpointException($"{path}: {length} bytes, more than the {MaxBytes} a JSON file beside a checkpoint can reasonably be; is it the right file?");
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CheckpointException($"{path}: cannot read it: {e.Message}");
            }
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(bytes);
            }
            catch (JsonException e)
            {
                throw new CheckpointException($"{path}: not valid JSON: {e.Message} Fix or download the file again");
            }
            try
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    throw new CheckpointException($"{path}: the file must hold a JSON object, not {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
                RejectDuplicates(document.RootElement, path, "");
                return document;
            }
            catch
            {
                document.Dispose();
                throw;
            }
        }

        private static void RejectDuplicates(JsonElement element, string path, string at)
        {
            if (element.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (var item in element.EnumerateArray()) RejectDuplicates(item, path, $"{at}[{i++}]");
                return;
            }
            if (element.ValueKind != JsonValueKind.Object) return;
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in element.EnumerateObject())
            {
                string key = at.Length == 0 ? property.Name : at + "." + property.Name;
                if (!keys.Add(property.Name))
                    throw new CheckpointException($"{path}: '{key}' appears twice; keep one (readers disagree on which one wins)");
                RejectDuplicates(property.Value, path, key);
            }
        }

        public static int? Int(JsonElement obj, string key, string path, string at)
        {
            var value = Value(obj, key);
            if (value is null) return null;
            if (value.Value.ValueKind == JsonValueKind.Number && value.Value.TryGetInt32(out int result)) return result;
            throw WrongType(path, at + key, value.Value, "an integer");
        }

        public static bool? Bool(JsonElement obj, string key, string path, string at)
        {
            var value = Value(obj, key);
            if (value is null) return null;
            if (value.Value.ValueKind is JsonValueKind.True or JsonValueKind.False) return value.Value.GetBoolean();
            throw WrongType(path, at + key, value.Value, "true or false");
        }

        public static string? String(JsonElement obj, string key, string path, string at)
        {
            var value = Value(obj, key);
            if (value is null) return null;
            if (value.Value.ValueKind == JsonValueKind.String) return value.Value.GetString();
            throw WrongType(path, at + key, value.Value, "a string");
        }

        /// <summary>The value of <paramref name="key"/>; null when absent or JSON null.</summary>
        public static JsonElement? Value(JsonElement obj, string key) =>
            obj.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        private static CheckpointException WrongType(string path, string key, JsonElement value, string expected) =>
            new CheckpointException($"{path}: '{key}' is {value.GetRawText()}; it must be {expected}");
    }
}
