// Types for the vendored bundle htm-preact-standalone.js (npm htm@3.1.1, file
// preact/standalone.module.js: htm and Preact 10 in one ES module). Only what the app uses.

export interface VNode {
  type: unknown;
  props: Record<string, unknown>;
  key: string | number | null;
}
export type Child = VNode | string | number | boolean | null | undefined | Child[];

export function html(strings: TemplateStringsArray, ...values: unknown[]): VNode;
export function render(tree: VNode, parent: Element): void;

type StateUpdater<S> = (value: S | ((prev: S) => S)) => void;
export function useState<S>(initial: S | (() => S)): [S, StateUpdater<S>];
export function useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void;
export function useRef<T>(initial: T): { current: T };
export function useMemo<T>(factory: () => T, deps: readonly unknown[]): T;
export function useCallback<T extends (...args: never[]) => unknown>(fn: T, deps: readonly unknown[]): T;
