// A tiny typed element builder: enough to keep the views readable without a framework. Text always goes in as
// text nodes, never as HTML, so names and error messages from the server cannot inject markup.

type Attributes<K extends keyof HTMLElementTagNameMap> = Partial<
  Omit<HTMLElementTagNameMap[K], 'style' | 'dataset'>
> & {
  class?: string;
  dataset?: Record<string, string>;
  style?: Partial<CSSStyleDeclaration>;
};

export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes<K> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  const { class: className, dataset, style, ...properties } = attributes;
  if (className) element.className = className;
  if (dataset) Object.assign(element.dataset, dataset);
  if (style) Object.assign(element.style, style);
  Object.assign(element, properties);
  element.append(...toNodes(children));
  return element;
}

function toNodes(children: Child[]): (Node | string)[] {
  return children
    .filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false)
    .map((c) => (typeof c === 'number' ? String(c) : c));
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...toNodes(children));
}

/** An <img> that loads lazily and says what it shows. */
export function img(src: string, alt: string, className = ''): HTMLImageElement {
  return h('img', { src, alt, loading: 'lazy', decoding: 'async', className });
}
