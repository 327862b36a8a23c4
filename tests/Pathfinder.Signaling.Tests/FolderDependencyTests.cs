using System.Reflection;
using System.Reflection.Emit;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 15 must-have 3: no import cycles between the service's folders (namespaces <c>Pathfinder.Signaling.X</c>). The
/// dependencies are read from the compiled assembly — signatures, attributes, locals and every type, method and field
/// token in the IL (lambdas and async state machines count for the folder that declares them) — so a reference
/// through a using, a qualified name or <c>var</c> all count; doc comments do not.
/// </summary>
public sealed class FolderDependencyTests
{
    private const string Root = "Pathfinder.Signaling";

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Fact]
    public void No_folder_depends_on_a_folder_that_depends_back_on_it()
    {
        var edges = FolderEdges(typeof(SignalingExtensions).Assembly);

        // Not vacuous: the layering's known dependencies are seen.
        Assert.Contains(("Transport", "Routing"), edges.Keys);
        Assert.Contains(("Cluster", "Routing"), edges.Keys);
        Assert.Contains(("Routing", "Protocol"), edges.Keys);
        Assert.Contains(("(root)", "Cluster"), edges.Keys);

        var cycles = new List<string>();
        foreach (var ((from, to), evidence) in edges.OrderBy(e => e.Key))
        {
            if (PathBetween(edges, to, from) is { } back)
            {
                cycles.Add($"{from} → {to} ({evidence}) and back: {string.Join(" → ", back.Select(e => $"{e.From} → {e.To} ({edges[e]})"))}");
            }
        }

        Assert.True(cycles.Count == 0, "Folder import cycles:" + Environment.NewLine + string.Join(Environment.NewLine, cycles));
    }

    // Folder → folder, with one type-level reference that creates the edge (for the failure message).
    private static Dictionary<(string From, string To), string> FolderEdges(Assembly assembly)
    {
        var edges = new Dictionary<(string, string), string>();
        foreach (var type in assembly.GetTypes())
        {
            if (FolderOf(type) is not { } from)
            {
                continue;
            }

            foreach (var used in UsedTypes(type).SelectMany(Expand).Distinct())
            {
                if (used.Assembly == assembly && FolderOf(used) is { } to && to != from)
                {
                    edges.TryAdd((from, to), $"{Outer(type).Name} uses {Outer(used).Name}");
                }
            }
        }

        return edges;
    }

    private static List<(string From, string To)>? PathBetween(Dictionary<(string From, string To), string> edges, string start, string goal)
    {
        var previous = new Dictionary<string, (string From, string To)>();
        var queue = new Queue<string>([start]);
        var seen = new HashSet<string> { start };
        while (queue.TryDequeue(out var folder))
        {
            if (folder == goal)
            {
                var path = new List<(string, string)>();
                for (var at = goal; at != start; at = previous[at].From)
                {
                    path.Insert(0, previous[at]);
                }

                return path;
            }

            foreach (var edge in edges.Keys.Where(e => e.From == folder && seen.Add(e.To)))
            {
                previous[edge.To] = edge;
                queue.Enqueue(edge.To);
            }
        }

        return null;
    }

    // Pathfinder.Signaling.X(.Y) → "X"; the root namespace (the wiring) is a node too; anything else (Program,
    // compiler-generated helpers) is not part of the layering.
    private static string? FolderOf(Type type)
    {
        var ns = Outer(type).Namespace;
        return ns == Root ? "(root)" : ns?.StartsWith(Root + ".", StringComparison.Ordinal) == true ? ns[(Root.Length + 1)..].Split('.')[0] : null;
    }

    private static Type Outer(Type type)
    {
        while (type.DeclaringType is { } declaring)
        {
            type = declaring;
        }

        return type;
    }

    private static IEnumerable<Type> Expand(Type type)
    {
        if (type.HasElementType)
        {
            return Expand(type.GetElementType()!);
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            return Expand(type.GetGenericTypeDefinition()).Concat(type.GetGenericArguments().SelectMany(Expand));
        }

        return type.IsGenericParameter ? [] : [type];
    }

    private static IEnumerable<Type> UsedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        if (type.BaseType is { } baseType)
        {
            yield return baseType;
        }

        foreach (var used in type.GetInterfaces().Concat(type.CustomAttributes.Select(a => a.AttributeType)))
        {
            yield return used;
        }

        foreach (var field in type.GetFields(all))
        {
            yield return field.FieldType;
        }

        foreach (var property in type.GetProperties(all))
        {
            yield return property.PropertyType;
        }

        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method is MethodInfo info)
            {
                yield return info.ReturnType;
            }

            foreach (var used in method.GetParameters().Select(p => p.ParameterType).Concat(method.CustomAttributes.Select(a => a.AttributeType)))
            {
                yield return used;
            }

            foreach (var used in BodyTypes(method))
            {
                yield return used;
            }
        }
    }

    // Locals and every type, method and field token in the method's IL.
    private static IEnumerable<Type> BodyTypes(MethodBase method)
    {
        var body = method.GetMethodBody();
        var il = body?.GetILAsByteArray();
        if (body is null || il is null)
        {
            yield break;
        }

        foreach (var local in body.LocalVariables)
        {
            yield return local.LocalType;
        }

        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var at = 0;
        while (at < il.Length)
        {
            var op = il[at] == 0xFE ? OpCodesByValue[unchecked((short)(0xFE00 | il[at + 1]))] : OpCodesByValue[il[at]];
            at += op.Size;
            switch (op.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    at += 8;
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + (4 * BitConverter.ToInt32(il, at));
                    break;
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    var member = method.Module.ResolveMember(BitConverter.ToInt32(il, at), typeArguments, methodArguments);
                    at += 4;
                    if (member is Type used)
                    {
                        yield return used;
                    }
                    else if (member?.DeclaringType is { } owner)
                    {
                        yield return owner;
                        if (member is MethodInfo { IsGenericMethod: true } generic)
                        {
                            foreach (var argument in generic.GetGenericArguments())
                            {
                                yield return argument;
                            }
                        }
                    }

                    break;
                default:
                    at += 4; // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
                    break;
            }
        }
    }
}
